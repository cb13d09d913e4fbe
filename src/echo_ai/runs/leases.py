"""Batch leases: which process is running a batch, so that nothing runs it a second time.

A process that runs chunks of a batch holds the batch's lease: ``batch_runs.lease_owner``
names the process (``host:pid:nonce``) and ``heartbeat_at`` is the lease's clock. The
holder renews it every quarter of the lease's time to live (TTL); every stored iteration
moves the clock too. A lease is **held** while it has an owner and its clock is younger
than the TTL; after that it has **lapsed**: its holder stopped renewing, so it is gone
(killed, out of memory, its machine down).

Who respects it:

- a resume (:func:`echo_ai.runs.service.reopen_unfinished`) refuses to reopen a batch
  whose lease is held (:class:`BatchBusy`), since running its missing iterations while
  the holder still runs them would pay for the same calls twice;
- the in-process executor runs a batch only if it can :func:`acquire` its lease, which
  nobody else holds, so two processes sharing a database never run the same batch; it
  holds the lease exclusively: its renewals and claims change only a lease that still
  names it, so a holder whose lease lapsed (its renewals failed for a while) and was
  taken over meanwhile stops running the batch instead of taking it back;
- a process with the in-process executor starting up takes over the batches whose holder
  is gone (:func:`take_orphans`): a lapsed lease, none at all, or a holder known dead on
  this machine (its process is not running).

Chunks on Celery workers share a batch's lease (each renews it, the last one names
itself): several workers run a batch's chunks at once, and one column cannot say which
still do, so a worker never releases it; it lapses one TTL after the batch's last chunk.
"""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import rows_changed
from echo_ai.errors import Conflict
from echo_ai.runs.models import ACTIVE_STATUSES, BatchRun

RENEWALS_PER_TTL = 4
"""A holder renews its lease this many times per TTL: a late renewal or two (a slow
database) does not let it lapse."""

_OWNERS_HERE: set[str] = set()
"""The owners this process has created and not closed: on this machine, an owner with this
process's pid that is not among them belonged to an earlier process with the same pid (a
container's restarted main process), which is gone."""


class BatchBusy(Conflict):
    """A batch is being run (or waits to be run) elsewhere: reopening it now would run the
    same iterations twice."""

    code = "batch_busy"


def new_owner() -> str:
    """A lease owner name for this process: ``host:pid:nonce`` (the nonce tells two
    processes apart that had the same pid, one after the other)."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    _OWNERS_HERE.add(owner)
    return owner


def close_owner(owner: str) -> None:
    """The owner's runtime has closed: an owner of this process no longer in use."""
    _OWNERS_HERE.discard(owner)


def known_dead(owner: str) -> bool:
    """Whether ``owner`` was a process of this machine that is not running any more.

    Only a process of this machine can be checked (by pid); for any other the answer is
    False, and its lease is left to lapse. Host names must therefore differ between the
    machines (or containers) that share a database, as they do by default.
    """
    host, _, rest = owner.partition(":")
    pid_text, _, nonce = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or not nonce:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner not in _OWNERS_HERE
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user
        return False
    return False


@dataclass(frozen=True)
class Holder:
    """A batch whose lease is held."""

    batch_run_id: uuid.UUID
    provider: str
    model: str
    owner: str
    last_seen: datetime

    def describe(self, now: datetime, ttl: timedelta) -> str:
        ago = max(0, round((now - self.last_seen).total_seconds()))
        lapses = max(1, round((self.last_seen + ttl - now).total_seconds()))
        return (
            f"batch {self.batch_run_id} ({self.provider}:{self.model}) is being run by "
            f"worker {self.owner} (last seen {ago} s ago); try again after it stops, or in "
            f"{lapses} s if that worker is gone"
        )


def held(now: datetime, ttl: timedelta) -> ColumnElement[bool]:
    """A query's condition: the batch's lease is held at ``now``."""
    return and_(BatchRun.lease_owner.is_not(None), BatchRun.heartbeat_at > now - ttl)


def free(now: datetime, ttl: timedelta) -> ColumnElement[bool]:
    """A query's condition: the batch's lease is not held at ``now`` (none, or lapsed)."""
    return or_(
        BatchRun.lease_owner.is_(None),
        BatchRun.heartbeat_at.is_(None),
        BatchRun.heartbeat_at <= now - ttl,
    )


async def holders(
    session: AsyncSession, batch_run_ids: Sequence[uuid.UUID], *, now: datetime, ttl: timedelta
) -> list[Holder]:
    """The batches among these whose lease is held at ``now``."""
    if not batch_run_ids:
        return []
    rows = await session.execute(
        select(
            BatchRun.id,
            BatchRun.provider,
            BatchRun.model,
            BatchRun.lease_owner,
            BatchRun.heartbeat_at,
        )
        .where(BatchRun.id.in_(batch_run_ids), held(now, ttl))
        .order_by(BatchRun.created_at)
    )
    return [
        Holder(row.id, row.provider, row.model, row.lease_owner, row.heartbeat_at) for row in rows
    ]


async def acquire(
    session: AsyncSession, batch_run_id: uuid.UUID, *, owner: str, now: datetime, ttl: timedelta
) -> bool:
    """Take the batch's lease for ``owner`` unless another holds it (a compare-and-set);
    whether ``owner`` holds it now. A finished batch is not taken."""
    taken = await rows_changed(
        session,
        update(BatchRun)
        .where(
            BatchRun.id == batch_run_id,
            BatchRun.status.in_(ACTIVE_STATUSES),
            or_(
                BatchRun.lease_owner.is_(None),
                BatchRun.lease_owner == owner,
                BatchRun.heartbeat_at <= now - ttl,
            ),
        )
        .values(lease_owner=owner, heartbeat_at=now),
    )
    return taken == 1


def still_held_by(owner: str) -> ColumnElement[bool]:
    """The condition under which an exclusive holder may go on: the lease still names it.
    Once its lease lapsed and another process took it (a resume, a start-up's
    :func:`take_orphans`), the holder must not take it back: both would run the batch."""
    return BatchRun.lease_owner == owner


async def renew(
    session: AsyncSession,
    batch_run_id: uuid.UUID,
    *,
    owner: str,
    now: datetime,
    exclusive: bool = False,
) -> bool:
    """Renew ``owner``'s lease; whether it still holds it. Whatever the batch's status: a
    failed or cancelled batch may still have calls in flight here, which a resume must
    wait for.

    An ``exclusive`` holder (one that :func:`acquire` d the batch) renews only a lease
    that still names it: False means another process has taken the batch over, and the
    holder must start no new call for it. Chunks on Celery workers share the lease, so
    each renews it whoever the last renewer was (the last one names itself).
    """
    statement = update(BatchRun).where(BatchRun.id == batch_run_id)
    if exclusive:
        statement = statement.where(still_held_by(owner))
    changed = await rows_changed(session, statement.values(lease_owner=owner, heartbeat_at=now))
    return changed == 1


async def release(session: AsyncSession, batch_run_id: uuid.UUID, *, owner: str) -> None:
    """Give the lease back, if ``owner`` still holds it."""
    await session.execute(
        update(BatchRun)
        .where(BatchRun.id == batch_run_id, BatchRun.lease_owner == owner)
        .values(lease_owner=None)
        .execution_options(synchronize_session=False)
    )


async def take_orphans(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    ttl: timedelta,
    is_dead: Callable[[str], bool] = known_dead,
) -> list[BatchRun]:
    """Take over every unfinished batch (of every experiment and round) that nobody runs:
    never started (no owner), its lease lapsed, or its holder dead (``is_dead``). Each is
    taken with a compare-and-set on the owner read, so of several processes starting at
    once one takes it; the batches taken, now held by ``owner``."""
    rows = (
        await session.execute(
            select(BatchRun.id, BatchRun.lease_owner, BatchRun.heartbeat_at)
            .where(BatchRun.status.in_(ACTIVE_STATUSES))
            .order_by(BatchRun.created_at)
        )
    ).all()
    taken: list[uuid.UUID] = []
    for row in rows:
        if row.lease_owner == owner:
            continue  # already ours
        lapsed = row.heartbeat_at is None or row.heartbeat_at <= now - ttl
        if row.lease_owner is not None and not lapsed and not is_dead(row.lease_owner):
            continue  # a live holder, or one that cannot be checked: let it run
        same_owner = (
            BatchRun.lease_owner.is_(None)
            if row.lease_owner is None
            else BatchRun.lease_owner == row.lease_owner
        )
        # A lease taken for having lapsed must still have lapsed at the write: a holder
        # that renewed since the read is alive, and keeps its batch.
        still_lapsed = or_(BatchRun.heartbeat_at.is_(None), BatchRun.heartbeat_at <= now - ttl)
        changed = await rows_changed(
            session,
            update(BatchRun)
            .where(
                BatchRun.id == row.id,
                BatchRun.status.in_(ACTIVE_STATUSES),
                same_owner,
                still_lapsed if lapsed else true(),
            )
            .values(lease_owner=owner, heartbeat_at=now),
        )
        if changed == 1:
            taken.append(row.id)
    if not taken:
        return []
    return list(
        await session.scalars(
            select(BatchRun)
            .where(BatchRun.id.in_(taken))
            .order_by(BatchRun.created_at)
            .execution_options(populate_existing=True)
        )
    )
