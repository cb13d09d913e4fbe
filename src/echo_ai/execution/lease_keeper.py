"""Holds this process's leases on the batches it runs (see :mod:`echo_ai.runs.leases`).

While any chunk of a batch runs here, one renewal task per batch moves the lease's clock
every quarter of the TTL, even when no iteration is stored for a while (a slow vendor):
a resume elsewhere keeps refusing, and the scheduler never takes the batch for stalled.

A batch this process :meth:`LeaseKeeper.acquire` d is held exclusively: if a renewal finds
that the lease names another process (it lapsed while the renewals failed, and a resume
or a start-up took the batch over), the batch is :meth:`LeaseKeeper.lost` here and the
runner starts no new call for it (see :meth:`echo_ai.execution.runner.Runner.halted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.db import transaction
from echo_ai.runs import leases

log = logging.getLogger(__name__)


@dataclass
class _Held:
    holders: int = 0
    release: bool = False
    """Give the lease back when the last hold ends (one of the holds asked for it)."""
    renewing: bool = False
    """In a renewal's transaction: let it finish rather than cancel it mid-way."""
    stopping: bool = False
    task: asyncio.Task[None] | None = None


@dataclass
class LeaseKeeper:
    session_factory: async_sessionmaker[AsyncSession]
    ttl: timedelta
    """A lease not renewed for this long has lapsed (``worker.lease_seconds``)."""
    owner: str = field(default_factory=leases.new_owner)
    """This process's name on its leases (``host:pid:nonce``)."""
    clock: Clock = SYSTEM_CLOCK
    """Spaces the renewals and dates them (and the acquisitions)."""
    _held: dict[uuid.UUID, _Held] = field(init=False, default_factory=dict)
    _exclusive: set[uuid.UUID] = field(init=False, default_factory=set)
    """Batches acquired here: their lease is renewed only while it still names us."""
    _lost: set[uuid.UUID] = field(init=False, default_factory=set)
    """Exclusive batches whose lease another process has taken over."""

    @property
    def renew_every(self) -> float:
        return self.ttl.total_seconds() / leases.RENEWALS_PER_TTL

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    async def acquire(self, batch_run_id: uuid.UUID) -> bool:
        """Take the batch's lease unless another process holds it: for an executor that
        runs a whole batch here (the in-process one), so two processes never both do.
        The lease is held exclusively from then on (see :meth:`exclusive`)."""
        async with transaction(self.session_factory) as session:
            taken = await leases.acquire(
                session, batch_run_id, owner=self.owner, now=self.now(), ttl=self.ttl
            )
        if taken:
            self._exclusive.add(batch_run_id)
            self._lost.discard(batch_run_id)
        return taken

    def exclusive(self, batch_run_id: uuid.UUID) -> bool:
        """Whether this process acquired the batch (rather than sharing its lease with
        other Celery workers): its claims and renewals need the lease to still name it."""
        return batch_run_id in self._exclusive

    def lose(self, batch_run_id: uuid.UUID) -> None:
        """Another process has taken over the batch's lease: start nothing more for it."""
        if batch_run_id not in self._lost:
            log.warning(
                "batch %s: its lease lapsed and another process took the batch over; "
                "no new call starts for it here",
                batch_run_id,
            )
        self._lost.add(batch_run_id)

    def lost(self, batch_run_id: uuid.UUID) -> bool:
        """Whether another process has taken over this batch, acquired here earlier."""
        return batch_run_id in self._lost

    @contextlib.asynccontextmanager
    async def hold(self, batch_run_id: uuid.UUID, *, release: bool = False) -> AsyncIterator[None]:
        """Renew the batch's lease while the body runs (nested holds share one renewal).

        With ``release``, the last hold to end gives the lease back: only for a process
        that runs the whole batch; chunks on Celery workers let it lapse instead (another
        worker may still be running one of the batch's chunks).
        """
        held = self._held.get(batch_run_id)
        if held is None:
            held = self._held[batch_run_id] = _Held()
            held.task = asyncio.create_task(self._renew(batch_run_id, held))
        held.holders += 1
        held.release = held.release or release
        try:
            yield
        finally:
            held.holders -= 1
            if held.holders == 0:
                del self._held[batch_run_id]
                await self._stop(held)
                if held.release:
                    await self._release(batch_run_id)
                    self._exclusive.discard(batch_run_id)
                    self._lost.discard(batch_run_id)

    async def _renew(self, batch_run_id: uuid.UUID, held: _Held) -> None:
        while not held.stopping:
            await self.clock.sleep(self.renew_every)
            held.renewing = True
            exclusive = self.exclusive(batch_run_id)
            try:
                async with transaction(self.session_factory) as session:
                    renewed = await leases.renew(
                        session, batch_run_id, owner=self.owner, now=self.now(), exclusive=exclusive
                    )
            except Exception:  # the database briefly away: try again at the next turn
                log.warning("could not renew the lease of batch %s", batch_run_id, exc_info=True)
                continue
            finally:
                held.renewing = False
            if exclusive and not renewed:
                self.lose(batch_run_id)
                return  # not ours any more: nothing to renew

    @staticmethod
    async def _stop(held: _Held) -> None:
        held.stopping = True
        assert held.task is not None
        if not held.renewing:
            held.task.cancel()  # asleep between renewals
        await asyncio.gather(held.task, return_exceptions=True)

    async def _release(self, batch_run_id: uuid.UUID) -> None:
        try:
            async with transaction(self.session_factory) as session:
                await leases.release(session, batch_run_id, owner=self.owner)
        except Exception:  # it lapses by itself within one TTL
            log.warning("could not release the lease of batch %s", batch_run_id, exc_info=True)

    def close(self) -> None:
        """The process's runtime closes: its owner name is no longer in use here."""
        leases.close_owner(self.owner)
