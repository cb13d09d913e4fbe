"""Export of everything about a user (GDPR Art. 15 and 20): a ZIP of JSON files.

A user asks (:func:`request`); the ZIP is written in the background (:func:`prepare`,
started once the request's transaction has committed: by the API process in the embedded
default, by a Celery worker in production mode, see :mod:`echo_ai.execution.background`)
into ``<data_dir>/exports/`` (directory 0700, file 0600); a download link carries a
random token of which only the SHA-256 is stored, valid ``privacy.export_link_hours``
from the moment the file is ready (shown ``expired`` once past it: :func:`status_at`).
Every request and every download is audited.

A preparation writes a file of its own and marks the export ready by compare-and-set:
one that loses (the account erased, the export failed meanwhile) or fails deletes what it
wrote. An erasure deletes the files of the user's exports (one being written too),
withdraws other users' ready exports that name the erased addresses
(:func:`withdraw_naming`) and has those being written written again
(:func:`restart_others`).

A preparation first claims its export (compare-and-set on ``started_at``), so two
deliveries of its task never write it at once; one that finds it no longer ``preparing``,
or started by another within the time a worker may run it, does nothing. In production
mode an export is never left ``preparing`` for good: ``echo-ai beat`` dispatches again an
export that no preparation has started for ``worker.visibility_timeout_seconds`` (its task
was never sent, the broker being down; or its worker died: the preparation starts again
from scratch), at most once per that time, and gives up, ``failed``, on one still not
ready :data:`GIVE_UP_AFTER` after it was asked for (:func:`stalled`). In the embedded
default, an export interrupted by the end of the process is marked failed.

The ZIP holds ``account.json`` (the profile, without the password hash or the 2FA
secret, with a pending change of the e-mail address), ``memberships.json``,
``consents.json``, ``sessions.json`` (the sign-ins: one per refresh-token family),
``audit_events.json`` (the events the user is the actor of) and, per workspace the user
owns, ``workspaces/<id>/workspace.json``, ``workspaces/<id>/brand_profiles.json`` and
``workspaces/<id>/experiments/<id>.json`` (the experiment, its rounds, its batch runs with
their metrics and every iteration: the answer, the extraction, the citations). Rows are
read and written page by page, each page in a short session of its own, entry by entry
into the ZIP: memory stays flat at any size.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import enum
import hmac
import json
import logging
import os
import secrets
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import ColumnElement, Select, Table, and_, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.accounts.models import DataExport, ExportStatus
from echo_ai.auth import email_tokens
from echo_ai.auth.models import Consent, RefreshToken, User, UserToken
from echo_ai.brands.models import BrandProfile
from echo_ai.db import after_commit, dialect_insert, keyset_after, rows_changed, utcnow
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, Experiment, ExperimentRound, Iteration
from echo_ai.security.files import PRIVATE_FILE, private_directory
from echo_ai.security.refresh import hash_token
from echo_ai.workspaces.models import Membership, Role, Workspace

log = logging.getLogger(__name__)

EXPORTS_DIRECTORY = "exports"
PAGE_SIZE = 500
"""Rows read per query (iterations, audit events)."""

GIVE_UP_AFTER = timedelta(days=1)
"""An export still not ready this long after it was asked for is failed by the sweep."""

ACCOUNT_SECRETS = frozenset({"password_hash", "totp_secret", "totp_last_step"})
"""Columns of ``users`` never exported: they would only help an attacker."""


class ExportNotFound(NotFound):
    code = "export_not_found"


class ExportExpired(AppError):
    status_code = 410
    code = "export_expired"


class ExportNotReady(Conflict):
    code = "export_not_ready"


class ExportInProgress(Conflict):
    code = "export_in_progress"

    def __init__(self) -> None:
        super().__init__(
            "an export of your data is still being prepared: wait until it is ready"
            " (or has failed) before asking for another"
        )


Admit = Callable[[], Awaitable[object]]
"""Counts an accepted request against a limit, or raises (see :func:`request`)."""


@dataclass(frozen=True)
class RequestedExport:
    export: DataExport
    token: str
    """The download link's token: in this answer only (only its hash is stored)."""


def exports_directory(data_dir: Path) -> Path:
    return data_dir / EXPORTS_DIRECTORY


def file_of(data_dir: Path, export: DataExport) -> Path | None:
    if export.file_name is None:
        return None
    return exports_directory(data_dir) / Path(export.file_name).name


PrepareLater = Callable[[uuid.UUID], Coroutine[Any, Any, None]]
"""What prepares an export once its request has committed (the API's background jobs:
here, or a Celery worker)."""


async def request(
    session: AsyncSession,
    user: User,
    *,
    prepare_later: PrepareLater,
    link_hours: int,
    actor: Actor,
    admit: Admit | None = None,
    now: datetime | None = None,
) -> RequestedExport:
    """Ask for an export of everything about ``user``: stored as ``preparing``, audited,
    and handed to ``prepare_later`` once the caller's transaction commits.
    :class:`ExportInProgress` (409) while another of theirs is still being prepared, also
    one asked for at the same instant (a unique index on the user's ``preparing`` export
    refuses the second; the caller's session stays usable). ``admit`` (a rate limit) is
    called once the export is stored, so that only an accepted request counts; what it
    raises takes the export back (the caller's session stays usable)."""
    now = now or utcnow()
    preparing = await session.scalar(
        select(DataExport.id)
        .where(DataExport.user_id == user.id, DataExport.status == ExportStatus.PREPARING)
        .limit(1)
    )
    if preparing is not None:
        raise ExportInProgress()
    token = secrets.token_urlsafe(32)
    # One insert that the unique index on the user's ``preparing`` export turns into
    # nothing when another request's export got in after the check above (no savepoint:
    # on SQLite, one that opens the transaction commits on its own when released).
    export_id = await session.scalar(
        dialect_insert(session)(DataExport)
        .values(
            id=uuid.uuid4(),
            user_id=user.id,
            status=ExportStatus.PREPARING,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(hours=link_hours),
        )
        .on_conflict_do_nothing(
            index_elements=[DataExport.user_id],
            # The index's predicate as SQL text, not a bound parameter: PostgreSQL must
            # prove the predicate implies the index's, and with a parameter it cannot once
            # the prepared statement runs on a generic plan (from its sixth run on one
            # connection): "no unique or exclusion constraint matching" (a 500).
            index_where=text(f"status = '{ExportStatus.PREPARING.value}'"),
        )
        .returning(DataExport.id)
    )
    if export_id is None:
        raise ExportInProgress()
    if admit is not None:
        try:
            await admit()
        except BaseException:
            await session.execute(delete(DataExport).where(DataExport.id == export_id))
            raise
    export = await session.get_one(DataExport, export_id)
    await audit.record(
        session,
        Action.ACCOUNT_EXPORT_REQUESTED,
        actor=actor,
        target_type="data_export",
        target_id=export.id,
    )
    after_commit(session, lambda: prepare_later(export_id))
    return RequestedExport(export=export, token=token)


async def list_exports(session: AsyncSession, user_id: uuid.UUID) -> list[DataExport]:
    """The user's exports, newest first."""
    found = await session.scalars(
        select(DataExport)
        .where(DataExport.user_id == user_id)
        .order_by(DataExport.created_at.desc(), DataExport.id.desc())
    )
    return list(found)


async def get(session: AsyncSession, user_id: uuid.UUID, export_id: uuid.UUID) -> DataExport:
    """One of the user's exports (another user's is not found)."""
    export = await session.get(DataExport, export_id)
    if export is None or export.user_id != user_id:
        raise ExportNotFound("no such export")
    return export


async def open_download(
    session: AsyncSession,
    user_id: uuid.UUID,
    export_id: uuid.UUID,
    token: str | None,
    *,
    data_dir: Path,
    actor: Actor,
    now: datetime | None = None,
) -> tuple[DataExport, Path]:
    """The file of a ready export of ``user_id`` to send, audited as downloaded.

    With a ``token`` (the download link's), it must be the export's; without one the
    caller has already proven it is the user (a signed-in web page). An expired link is
    answered 410, one not ready yet 409, anything else (another user's export, a wrong
    token) 404.
    """
    now = now or utcnow()
    export = await get(session, user_id, export_id)
    if token is not None and not hmac.compare_digest(export.token_hash, hash_token(token)):
        raise ExportNotFound("no such export")
    if export.status is ExportStatus.EXPIRED or export.expires_at <= now:
        raise ExportExpired(
            f"this download link expired at {export.expires_at:%Y-%m-%d %H:%M} UTC: "
            "ask for a new export"
        )
    if export.status is not ExportStatus.READY:
        raise ExportNotReady(f"the export is {export.status}, not ready to download")
    path = file_of(data_dir, export)
    if path is None or not path.exists():
        raise ExportExpired("the export's file is gone: ask for a new export")
    export.downloaded_at = now
    await audit.record(
        session,
        Action.ACCOUNT_EXPORT_DOWNLOADED,
        actor=actor,
        target_type="data_export",
        target_id=export.id,
        details={"size_bytes": export.size_bytes},
    )
    return export, path


def expirable(now: datetime) -> ColumnElement[bool]:
    """Exports :func:`expire` marks ``expired`` at ``now``: ready (or failed) ones past
    their link's end. One in preparation is given its time when ready, one withdrawn
    stays so (its owner sees why)."""
    return and_(
        DataExport.expires_at <= now,
        DataExport.status.in_([ExportStatus.READY, ExportStatus.FAILED]),
    )


def status_at(export: DataExport, now: datetime) -> ExportStatus:
    """The status to show at ``now``: a ready export past its link's end is ``expired``
    already (its download answers 410), before the daily sweep (:func:`expire`)."""
    if export.status is ExportStatus.READY and export.expires_at <= now:
        return ExportStatus.EXPIRED
    return export.status


async def expire(session: AsyncSession, *, data_dir: Path, now: datetime | None = None) -> int:
    """Delete the files of exports whose link has expired and mark them ``expired``;
    how many. Idempotent: for a daily task."""
    now = now or utcnow()
    found = await session.scalars(select(DataExport).where(expirable(now)))
    count = 0
    for export in found:
        delete_file(data_dir, export)
        export.status = ExportStatus.EXPIRED
        count += 1
    await session.flush()
    return count


def delete_file(data_dir: Path, export: DataExport) -> None:
    """Delete every file of the export: its ZIP, and what a preparation is writing (each
    preparation writes ``export-<id>-<nonce>.zip.part``, renamed ``.zip`` once whole)."""
    path = file_of(data_dir, export)
    if path is not None:
        path.unlink(missing_ok=True)
    directory = exports_directory(data_dir)
    if directory.is_dir():
        for found in directory.glob(f"export-{export.id}*"):
            found.unlink(missing_ok=True)


WITHDRAWN_REASON = (
    "withdrawn: it named a person who has since deleted their account; ask for a new export"
)
"""What the owner of an export withdrawn by an erasure reads (the erased person unnamed)."""

SCAN_CHUNK = 64 * 1024


async def withdraw_naming(
    session: AsyncSession, addresses: Sequence[str], *, erased: uuid.UUID, data_dir: Path
) -> int:
    """For an erasure of ``erased``: withdraw the ready exports of other users whose ZIP
    names one of ``addresses`` (an invitation, a membership change in their audit
    events): the file deleted, the export marked ``withdrawn`` with
    :data:`WITHDRAWN_REASON`, so that its owner may ask again. How many."""
    if not addresses:
        return 0
    found = await session.scalars(
        select(DataExport)
        .where(DataExport.status == ExportStatus.READY, DataExport.user_id != erased)
        .with_for_update()
    )
    count = 0
    for export in list(found):
        path = file_of(data_dir, export)
        if path is None or not await asyncio.to_thread(names_any, path, addresses):
            continue
        export.status = ExportStatus.WITHDRAWN
        export.error = WITHDRAWN_REASON
        delete_file(data_dir, export)
        count += 1
    await session.flush()
    return count


def names_any(path: Path, addresses: Sequence[str]) -> bool:
    """Whether the ZIP at ``path`` holds one of ``addresses`` in any letter case: read
    entry by entry, chunk by chunk (memory stays flat). One that cannot be read counts as
    naming them; a missing one does not."""
    wanted = [address.lower() for address in addresses if address]
    if not wanted:
        return False
    overlap = max(len(address) for address in wanted) - 1
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                tail = ""
                with archive.open(info) as entry:
                    while True:
                        chunk = entry.read(SCAN_CHUNK)
                        text = tail + decoder.decode(chunk, final=not chunk).lower()
                        if any(address in text for address in wanted):
                            return True
                        if not chunk:
                            break
                        tail = text[-overlap:] if overlap else ""
    except FileNotFoundError:
        return False
    except (OSError, zipfile.BadZipFile, EOFError):
        return True
    return False


# --- preparing the ZIP ----------------------------------------------------------------


ATTEMPTS = 3
"""Preparations of one export in a row when an erasure of another account asks for it to
be written again (:func:`restart_others`)."""


async def prepare(
    session_factory: async_sessionmaker[AsyncSession],
    export_id: uuid.UUID,
    *,
    data_dir: Path,
    link_hours: int,
    stale_after: timedelta = timedelta(0),
) -> None:
    """Write the export's ZIP and mark it ``ready`` (its link valid ``link_hours`` from
    now), or ``failed`` with the reason. Nothing if it is not ``preparing`` any more, or
    another preparation started it less than ``stale_after`` ago (a worker passes how long
    one may run; see the module's description).

    Each preparation writes a file of its own (``export-<id>-<nonce>.zip.part``, renamed
    ``.zip`` once whole) and marks the export ready by compare-and-set (still
    ``preparing``, still its claim): one that loses (the account was erased, the export
    failed or was claimed again meanwhile) deletes its file; so does every failure. An
    erasure of another account while it wrote asks for it again (:func:`restart_others`):
    it starts over, at most :data:`ATTEMPTS` times. It raises nothing but its
    cancellation: it runs in the background, where an exception would go unseen."""
    try:
        for _ in range(ATTEMPTS):
            if not await _prepare_once(
                session_factory,
                export_id,
                data_dir=data_dir,
                link_hours=link_hours,
                stale_after=stale_after,
            ):
                return
        log.warning(
            "the export %s was asked for again %d times: left to the sweep", export_id, ATTEMPTS
        )
    except Exception:
        log.exception("the export %s could not be prepared", export_id)


async def _prepare_once(
    session_factory: async_sessionmaker[AsyncSession],
    export_id: uuid.UUID,
    *,
    data_dir: Path,
    link_hours: int,
    stale_after: timedelta,
) -> bool:
    """One preparation; whether to start over (an erasure asked for it)."""
    claimed = utcnow()
    async with session_factory() as session, session.begin():
        export = await session.get(DataExport, export_id)
        if export is None or export.status is not ExportStatus.PREPARING:
            return False
        user_id = export.user_id
        if not await _claim(session, export, claimed, stale_after):
            return False
    directory = exports_directory(data_dir)
    private_directory(directory)
    name = f"export-{export_id}-{secrets.token_hex(6)}.zip"
    path = directory / name
    partial = path.with_name(name + ".part")
    ready = False
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(descriptor, "wb") as raw:
            await write_zip(session_factory, user_id, raw, now=claimed)
            size = raw.tell()
        # FileNotFoundError when an erasure deleted it meanwhile: a failure like any other.
        partial.rename(path)
        ready = await _mark_ready(session_factory, export_id, claimed, name, size, link_hours)
        return not ready and await _asked_again(session_factory, export_id)
    except asyncio.CancelledError:
        # The process is stopping: the export stays ``preparing``, and is prepared again
        # by the next start of an embedded service (``echo_ai.api.state``) or, in
        # production, by beat's sweep (:func:`stalled`).
        raise
    except Exception as error:
        async with session_factory() as session, session.begin():
            failed = await rows_changed(
                session,
                update(DataExport)
                .where(_still_mine(export_id, claimed))
                .values(
                    status=ExportStatus.FAILED,
                    error=f"{type(error).__name__}: {error}"[:2000],
                    finished_at=utcnow(),
                ),
            )
        if failed:
            log.exception("the export %s failed", export_id)
        else:  # erased, failed or claimed again meanwhile: what it wrote is deleted below
            log.info("the export %s was no longer wanted: %s", export_id, type(error).__name__)
        return False
    finally:
        partial.unlink(missing_ok=True)
        if not ready:
            path.unlink(missing_ok=True)


def _still_mine(export_id: uuid.UUID, claimed: datetime) -> ColumnElement[bool]:
    """The export is still ``preparing`` under the claim made at ``claimed``."""
    return and_(
        DataExport.id == export_id,
        DataExport.status == ExportStatus.PREPARING,
        DataExport.started_at == claimed,
    )


async def _mark_ready(
    session_factory: async_sessionmaker[AsyncSession],
    export_id: uuid.UUID,
    claimed: datetime,
    name: str,
    size: int,
    link_hours: int,
) -> bool:
    """Compare-and-set ``preparing`` (under this claim) → ``ready``: whether it won."""
    async with session_factory() as session, session.begin():
        finished = utcnow()
        changed = await rows_changed(
            session,
            update(DataExport)
            .where(_still_mine(export_id, claimed))
            .values(
                status=ExportStatus.READY,
                file_name=name,
                size_bytes=size,
                finished_at=finished,
                expires_at=finished + timedelta(hours=link_hours),
            ),
        )
    return changed == 1


async def _asked_again(
    session_factory: async_sessionmaker[AsyncSession], export_id: uuid.UUID
) -> bool:
    """Whether an erasure asked for the export to be written again (its claim cleared)."""
    async with session_factory() as session:
        export = await session.get(DataExport, export_id)
    return (
        export is not None and export.status is ExportStatus.PREPARING and export.started_at is None
    )


async def restart_others(session: AsyncSession, user_id: uuid.UUID) -> None:
    """For an erasure of ``user_id``: the exports of other users in preparation are to be
    written again once it has committed (what they read before may name the erased
    person). Their claims are cleared: a preparation under way loses its compare-and-set
    (the UPDATE waits on these rows until the erasure commits), deletes its file and
    starts over; one not started yet is not affected."""
    await session.execute(
        update(DataExport)
        .where(DataExport.status == ExportStatus.PREPARING, DataExport.user_id != user_id)
        .values(started_at=None)
        .execution_options(synchronize_session=False)
    )


async def _claim(
    session: AsyncSession, export: DataExport, now: datetime, stale_after: timedelta
) -> bool:
    """Move a ``preparing`` export's ``started_at`` from the value read to ``now``, unless
    a preparation started less than ``stale_after`` ago may still be running: whether
    this caller won it (compare-and-set)."""
    before = export.started_at
    if before is not None and before > now - stale_after:
        return False
    return (
        await rows_changed(
            session,
            update(DataExport)
            .where(
                DataExport.id == export.id,
                DataExport.status == ExportStatus.PREPARING,
                DataExport.started_at.is_(None)
                if before is None
                else DataExport.started_at == before,
            )
            .values(started_at=now),
        )
        == 1
    )


async def stalled(
    session: AsyncSession, *, now: datetime, after: timedelta, limit: int = 100
) -> list[uuid.UUID]:
    """For the scheduler's tick in production mode (and, with ``after`` zero, the start of
    an embedded service, whose previous process was the only one preparing exports): the
    exports still ``preparing`` that
    no preparation has started for ``after`` (longer than a worker may run one: its task
    was never sent, or its worker died) and that were not dispatched again within
    ``after``, each claimed for a new dispatch (their ids, to send after the commit);
    those asked for longer than :data:`GIVE_UP_AFTER` ago are marked ``failed`` instead."""
    since = now - after
    found = await session.scalars(
        select(DataExport)
        .where(
            DataExport.status == ExportStatus.PREPARING,
            func.coalesce(DataExport.started_at, DataExport.created_at) <= since,
            or_(DataExport.dispatched_at.is_(None), DataExport.dispatched_at <= since),
        )
        .order_by(DataExport.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    again: list[uuid.UUID] = []
    for export in list(found):
        mine = update(DataExport).where(
            DataExport.id == export.id,
            DataExport.status == ExportStatus.PREPARING,
            DataExport.dispatched_at.is_(None)
            if export.dispatched_at is None
            else DataExport.dispatched_at == export.dispatched_at,
        )
        if export.created_at <= now - GIVE_UP_AFTER:
            failed = mine.values(
                status=ExportStatus.FAILED,
                error="it could not be prepared in time: ask for a new export",
                finished_at=now,
            )
            if await rows_changed(session, failed):
                log.error("the export %s was given up: not prepared within a day", export.id)
        elif await rows_changed(session, mine.values(dispatched_at=now)):
            again.append(export.id)
    return again


async def write_zip(
    session_factory: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    out: IO[bytes],
    *,
    now: datetime | None = None,
) -> None:
    """Everything about the user as a ZIP of JSON files, written to ``out`` entry by
    entry (the CLI writes it straight to a file); every entry dated ``now`` (UTC)."""
    with _Archive(out, now or utcnow()) as archive:
        async with session_factory() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise ExportNotFound("no such user")
            pending = await email_tokens.pending(
                session, user, email_tokens.CHANGE_EMAIL, now=utcnow()
            )
            _write(archive, "account.json", _account(user, pending))
            memberships = (
                await session.execute(
                    select(Membership, Workspace)
                    .join(Workspace, Workspace.id == Membership.workspace_id)
                    .where(Membership.user_id == user_id)
                    .order_by(Membership.created_at)
                )
            ).all()
            _write(
                archive,
                "memberships.json",
                [
                    {
                        "workspace_id": workspace.id,
                        "workspace_name": workspace.name,
                        "personal": workspace.personal,
                        "role": membership.role,
                        "since": membership.created_at,
                    }
                    for membership, workspace in memberships
                ],
            )
            _write(archive, "consents.json", await _rows(session, _table(Consent), user_id))
            _write(archive, "sessions.json", await _sessions(session, user_id))
            owned = [w.id for m, w in memberships if m.role is Role.OWNER]
        await _stream(
            archive,
            "audit_events.json",
            _pages(
                session_factory,
                select(_table(AuditEvent)).where(_table(AuditEvent).c.actor_user_id == user_id),
                (_table(AuditEvent).c.created_at, _table(AuditEvent).c.id),
            ),
        )
        for workspace_id in owned:
            await _write_workspace(archive, session_factory, workspace_id)


async def _write_workspace(
    archive: _Archive,
    session_factory: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
) -> None:
    folder = f"workspaces/{workspace_id}"
    async with session_factory() as session:
        workspace = (
            await session.execute(
                select(_table(Workspace)).where(_table(Workspace).c.id == workspace_id)
            )
        ).one()
        _write(archive, f"{folder}/workspace.json", dict(workspace._mapping))
        brands = await session.execute(
            select(_table(BrandProfile)).where(_table(BrandProfile).c.workspace_id == workspace_id)
        )
        _write(archive, f"{folder}/brand_profiles.json", [dict(r._mapping) for r in brands])
        experiment_ids = list(
            await session.scalars(
                select(Experiment.id)
                .where(Experiment.workspace_id == workspace_id)
                .order_by(Experiment.created_at, Experiment.id)
            )
        )
    for experiment_id in experiment_ids:
        await _write_experiment(archive, session_factory, folder, experiment_id)


async def _write_experiment(
    archive: _Archive,
    session_factory: async_sessionmaker[AsyncSession],
    folder: str,
    experiment_id: uuid.UUID,
) -> None:
    """``{"experiment": …, "rounds": […], "batches": […], "iterations": […]}``, the
    iterations streamed batch by batch, page by page."""
    experiments, rounds, batches = (
        _table(Experiment),
        _table(ExperimentRound),
        _table(BatchRun),
    )
    async with session_factory() as session:
        experiment = (
            await session.execute(select(experiments).where(experiments.c.id == experiment_id))
        ).one()
        round_rows = await session.execute(
            select(rounds)
            .where(rounds.c.experiment_id == experiment_id)
            .order_by(rounds.c.created_at)
        )
        batch_rows = [
            dict(row._mapping)
            for row in await session.execute(
                select(batches)
                .where(batches.c.experiment_id == experiment_id)
                .order_by(batches.c.round, batches.c.created_at, batches.c.id)
            )
        ]
        head = {
            "experiment": dict(experiment._mapping),
            "rounds": [dict(row._mapping) for row in round_rows],
            "batches": batch_rows,
        }
    iterations = _table(Iteration)
    with archive.open(archive.entry(f"{folder}/experiments/{experiment_id}.json"), "w") as entry:
        entry.write(_dumps(head)[:-1].encode("utf-8") + b',"iterations":[')
        separator = b""
        for batch in batch_rows:
            pages = _pages(
                session_factory,
                select(iterations).where(iterations.c.batch_run_id == batch["id"]),
                (iterations.c.index,),
            )
            async for rows in pages:
                await _put(entry, separator + _joined(rows))
                separator = b","
        entry.write(b"]}")


def _account(user: User, pending: UserToken | None) -> dict[str, Any]:
    account = {
        column.name: getattr(user, column.key)
        for column in User.__mapper__.columns
        if column.name not in ACCOUNT_SECRETS
    }
    account["two_factor_enabled"] = user.totp_enabled_at is not None
    account["pending_email_change"] = (
        {
            "email": pending.email,
            "requested_at": pending.created_at,
            "expires_at": pending.expires_at,
        }
        if pending is not None
        else None
    )
    return account


async def _sessions(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """One entry per sign-in (refresh-token family): when it started and was last used,
    the device and address of its latest link, whether it is still live."""
    links = await session.scalars(
        select(RefreshToken)
        .where(RefreshToken.user_id == user_id)
        .order_by(RefreshToken.created_at, RefreshToken.id)
    )
    families: dict[uuid.UUID, dict[str, Any]] = {}
    for link in links:
        family = families.setdefault(
            link.family_id,
            {"id": link.family_id, "created_at": link.created_at, "revoked_at": None},
        )
        family["last_used_at"] = link.used_at or link.created_at
        family["expires_at"] = link.expires_at
        family["device"] = link.user_agent
        family["ip"] = link.ip
        if link.revoked_at is not None:
            family["revoked_at"] = link.revoked_at
    return list(families.values())


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


async def _rows(session: AsyncSession, table: Table, user_id: uuid.UUID) -> list[dict[str, Any]]:
    found = await session.execute(
        select(table).where(table.c.user_id == user_id).order_by(table.c.created_at)
    )
    return [dict(row._mapping) for row in found]


async def _pages(
    session_factory: async_sessionmaker[AsyncSession],
    query: Select[Any],
    order: Sequence[Any],
    *,
    size: int = PAGE_SIZE,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The query's rows, ``size`` at a time, by keyset on ``order`` (unique), each page
    in a session of its own."""
    last: tuple[Any, ...] | None = None
    while True:
        page = query.order_by(*order).limit(size)
        if last is not None:
            page = page.where(keyset_after(order, last))
        async with session_factory() as session:
            rows = [dict(row._mapping) for row in await session.execute(page)]
        if rows:
            yield rows
        if len(rows) < size:
            return
        last = tuple(rows[-1][column.name] for column in order)


async def _stream(archive: _Archive, name: str, pages: AsyncIterator[list[dict[str, Any]]]) -> None:
    """A JSON array entry written page by page."""
    with archive.open(archive.entry(name), "w") as entry:
        entry.write(b"[")
        separator = b""
        async for rows in pages:
            await _put(entry, separator + _joined(rows))
            separator = b","
        entry.write(b"]")


def _joined(rows: list[dict[str, Any]]) -> bytes:
    return b",".join(_dumps(row).encode("utf-8") for row in rows)


async def _put(entry: IO[bytes], data: bytes) -> None:
    """Compress and write a page in a worker thread: the event loop (the API's requests)
    does not wait on zlib and the disk."""
    await asyncio.to_thread(entry.write, data)


class _Archive(zipfile.ZipFile):
    """A ZIP being written whose entries are dated ``now`` (UTC, the time of the export:
    ``zipfile`` dates those opened for writing 1980-01-01), each private (0600)."""

    def __init__(self, out: IO[bytes], now: datetime) -> None:
        super().__init__(out, "w", compression=zipfile.ZIP_DEFLATED)
        self.date_time = now.timetuple()[:6]

    def entry(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info


def _write(archive: _Archive, name: str, value: object) -> None:
    archive.writestr(archive.entry(name), _dumps(value, indent=2))


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not exported")


def _dumps(value: object, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, indent=indent)
