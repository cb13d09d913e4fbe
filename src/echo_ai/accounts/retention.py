"""Retention of stored data (PRIV-01): what is removed, when, and how.

One pass (:func:`apply`) handles each data class in turn, each in bounded batches of
``settings.privacy.retention_batch_rows`` rows per short transaction (committed between
batches: no transaction holds its locks for long, and SQLite's single writer is given
back between them). A pass may run any number of times: a second one over the same data
changes nothing (every statement is conditional on what is still to do).

Data classes and their retention:

- **Raw answers and reasoning text** (``iterations.answer``, ``iterations.reasoning``):
  redacted in place after the workspace's answer retention, :func:`answer_retention_days`
  (the workspace's own setting if it has one, else its plan's ``retention_days``, else
  ``privacy.answer_retention_days``). Redaction sets both texts to NULL and
  ``redacted_at``; the extracted facts, citations, sources, tokens, cost and the batch's
  counters and metrics stay, so charts and history stay whole. Old answers are found
  through their batch: experiments created before the cutoff (``ix_experiments_created_at``),
  their batches finished before it (``ix_batch_runs_experiment_finished``), then the
  batches' iterations (``ix_iterations_batch_run_success``); never a scan of the iterations
  table.
- **Error texts of failed calls** (``iterations.error_message``, the error code stays)
  after ``privacy.error_retention_days``, found the same way.
- **Audit events** after ``privacy.audit_retention_days`` (deleted, oldest first, by
  ``ix_audit_events_created_at``).
- **Outbound mails** sent or given up after ``privacy.mail_retention_days``, and the
  ``.eml`` files of the outbox folder (``<data_dir>/outbox``, mails written there without
  an SMTP server) last written longer ago than that.
- **Sessions and e-mailed tokens**: refresh tokens (``refresh_tokens``, with the IP
  address and browser of the session) that expired, were revoked or were used, and
  e-mailed tokens (``user_tokens``) that expired or were used, more than
  ``privacy.session_retention_days`` ago.
- **Deleted accounts**: a user whose ``deleted_at`` is older than
  ``privacy.deleted_account_days`` is deleted (its rows cascade: memberships, sessions,
  tokens, consents, recovery codes, exports). The erasure itself (which replaces the
  e-mail by a pseudonym and revokes everything at once) happens when the user deletes the
  account; this is the later purge of what was left.
- **Data exports** whose download link expired (ready or failed ones; the API and the
  pages show a ready one past its time as ``expired`` already): the ZIP is deleted from
  ``<data_dir>/exports`` (:func:`echo_ai.accounts.export.exports_directory`) and the row
  marked ``expired``.

- **Data of the layers above** (the alerts': fired alerts, their deliveries and delivery
  logs), given to a pass as :class:`ExpiringRows` (:data:`echo_ai.alerts.retention.
  ALERT_ROWS`: this layer may not import theirs): deleted oldest first like audit events,
  counted in the report under their own names.

The report counts the write transactions that changed rows; a dry run counts those it
would commit, so that both agree on the same data.

The scheduler runs a pass daily (:func:`daily_task`), ``echo-ai retention run`` on demand.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Delete, Select, Update, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.accounts import export as account_exports
from echo_ai.accounts.models import DataExport
from echo_ai.auth.models import RefreshToken, User, UserToken
from echo_ai.billing.plans import PlanName, local_plan, plan_in_force
from echo_ai.config import Settings
from echo_ai.db import UUIDPrimaryKey, rows_changed, transaction
from echo_ai.mail import sender
from echo_ai.mail.models import MailStatus, OutboundMail
from echo_ai.observability import metrics
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, Experiment, Iteration
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID
from echo_ai.workspaces.models import Workspace

log = logging.getLogger(__name__)

_IN_CHUNK = 500
"""Ids per ``IN (...)`` list when reading (bounded statements on both backends)."""


@dataclass
class RetentionReport:
    """What one pass did (or, dry, would do), per data class."""

    answers_redacted: int = 0
    error_texts_cleared: int = 0
    audit_events_deleted: int = 0
    mails_deleted: int = 0
    outbox_files_deleted: int = 0
    """``.eml`` files of the outbox folder."""
    sessions_deleted: int = 0
    """Refresh-token rows (a session's IP and browser)."""
    user_tokens_deleted: int = 0
    """E-mailed tokens (confirmation, password reset, address change)."""
    accounts_purged: int = 0
    exports_expired: int = 0
    more: dict[str, int] = dataclasses.field(default_factory=dict)
    """Rows of the :class:`ExpiringRows` the pass was given, by their names."""
    transactions: int = 0
    """Write transactions committed that changed rows (dry: that would be, the same
    count a real pass over the same data makes)."""
    dry_run: bool = False
    started_at: datetime | None = None

    def counts(self) -> dict[str, int]:
        return {
            "answers_redacted": self.answers_redacted,
            "error_texts_cleared": self.error_texts_cleared,
            "audit_events_deleted": self.audit_events_deleted,
            "mails_deleted": self.mails_deleted,
            "outbox_files_deleted": self.outbox_files_deleted,
            "sessions_deleted": self.sessions_deleted,
            "user_tokens_deleted": self.user_tokens_deleted,
            "accounts_purged": self.accounts_purged,
            "exports_expired": self.exports_expired,
            **self.more,
        }

    def as_dict(self) -> dict[str, object]:
        return {
            **self.counts(),
            "transactions": self.transactions,
            "dry_run": self.dry_run,
            "now": self.started_at.isoformat() if self.started_at else None,
        }


def answer_retention_days(
    settings: Settings, *, plan: PlanName | None, own_days: int | None, local: bool = False
) -> int:
    """Days a workspace keeps raw answers and reasoning text: its own setting if it has
    one (it may only shorten its plan's: :func:`check_workspace_retention`), else its
    plan's ``retention_days`` (with the settings' overrides), else the operator's
    ``privacy.answer_retention_days`` (plans without a figure, like ``self_hosted``, the
    command line's local workspace and experiments from before workspaces)."""
    if own_days is not None:
        return own_days
    if local:
        plan_days = local_plan(settings).retention_days
    elif plan is not None:
        plan_days = plan_in_force(plan, settings).retention_days
    else:
        plan_days = None
    return plan_days if plan_days is not None else settings.privacy.answer_retention_days


def plan_retention_limit(settings: Settings, plan: PlanName, *, local: bool = False) -> int:
    """The longest answer retention a workspace on ``plan`` may set for itself."""
    return answer_retention_days(settings, plan=plan, own_days=None, local=local)


@dataclass(frozen=True)
class ExpiringRows:
    """Rows of a domain above this one that a pass deletes (see the module):
    ``due(now, settings)`` selects the ids of ``model``'s rows past their retention,
    oldest first; their dependent rows go with them (``ON DELETE CASCADE``)."""

    name: str
    """Their key in the report (``alerts_deleted``)."""
    model: type[UUIDPrimaryKey]
    due: Callable[[datetime, Settings], Select[uuid.UUID]]


async def apply(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    settings: Settings,
    dry_run: bool = False,
    data_dir: Path | None = None,
    expiring: Sequence[ExpiringRows] = (),
) -> RetentionReport:
    """One retention pass over every data class (see the module's documentation), those
    of ``expiring`` included."""
    report = RetentionReport(dry_run=dry_run, started_at=now)
    rows = settings.privacy.retention_batch_rows
    pass_ = _Pass(session_factory, report, rows, dry_run)
    await _redact_answers(pass_, now=now, settings=settings)
    await _clear_error_texts(
        pass_, cutoff=now - timedelta(days=settings.privacy.error_retention_days), now=now
    )
    await _delete_audit_events(
        pass_, cutoff=now - timedelta(days=settings.privacy.audit_retention_days)
    )
    data_dir = data_dir or settings.data_dir
    mail_cutoff = now - timedelta(days=settings.privacy.mail_retention_days)
    await _delete_mails(pass_, cutoff=mail_cutoff)
    report.outbox_files_deleted += sender.purge_outbox(
        sender.outbox_folder(data_dir), older_than=mail_cutoff, dry_run=dry_run
    )
    await _delete_tokens(
        pass_, cutoff=now - timedelta(days=settings.privacy.session_retention_days)
    )
    await _purge_deleted_accounts(
        pass_, cutoff=now - timedelta(days=settings.privacy.deleted_account_days), data_dir=data_dir
    )
    await _expire_exports(pass_, now=now, data_dir=data_dir)
    for rows_of in expiring:
        report.more[rows_of.name] = report.more.get(rows_of.name, 0) + await _delete_oldest(
            pass_, ids_query=rows_of.due(now, settings), model=rows_of.model
        )
    return report


async def daily_task(
    session_factory: async_sessionmaker[AsyncSession],
    now: datetime,
    settings: Settings,
    *,
    expiring: Sequence[ExpiringRows] = (),
) -> None:
    """The scheduler's daily retention pass (with the rows of the layers above it is
    given: ``expiring``): logged per data class and counted in the
    ``retention_rows_total{data_class}`` metric."""
    report = await apply(session_factory, now=now, settings=settings, expiring=expiring)
    record(report)
    log.info(
        "retention: %s (%d transaction(s))",
        ", ".join(f"{name} {count}" for name, count in report.counts().items()),
        report.transactions,
    )


def record(report: RetentionReport) -> None:
    """Count what a (not dry) pass changed in the Prometheus metrics."""
    if report.dry_run:
        return
    for name, count in report.counts().items():
        metrics.record_retention(name, count)
    metrics.record_retention_pass()


@dataclasses.dataclass
class _Pass:
    session_factory: async_sessionmaker[AsyncSession]
    report: RetentionReport
    rows: int
    dry_run: bool

    async def write(self, statement: Update | Delete) -> int:
        """Run one bounded UPDATE or DELETE in its own transaction; counted in the report
        when it changed rows."""
        async with transaction(self.session_factory) as session:
            changed = await rows_changed(session, statement)
        if changed:
            self.report.transactions += 1
        return changed

    def would_write(self, rows: int, *, per: int | None = None) -> None:
        """Dry: count the transactions a real pass would commit to change ``rows`` rows,
        ``per`` (default ``self.rows``) per transaction."""
        per = per or self.rows
        self.report.transactions += -(-rows // per)


def _pieces(ids: Sequence[uuid.UUID], size: int) -> list[Sequence[uuid.UUID]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


async def _answer_cutoffs(
    session_factory: async_sessionmaker[AsyncSession], *, now: datetime, settings: Settings
) -> dict[int, list[uuid.UUID | None]]:
    """The workspaces by their answer retention in days (None: experiments without a
    workspace, from before workspaces)."""
    groups: dict[int, list[uuid.UUID | None]] = {}
    async with session_factory() as session:
        found = await session.execute(
            select(Workspace.id, Workspace.plan, Workspace.answer_retention_days)
        )
        for workspace_id, plan, own_days in found:
            days = answer_retention_days(
                settings,
                plan=plan,
                own_days=own_days,
                local=workspace_id == LOCAL_WORKSPACE_ID,
            )
            groups.setdefault(days, []).append(workspace_id)
    groups.setdefault(settings.privacy.answer_retention_days, []).append(None)
    return groups


async def _old_batches(
    session: AsyncSession, *, cutoff: datetime, workspaces: Sequence[uuid.UUID | None] | None
) -> list[tuple[uuid.UUID, int]]:
    """Batches finished (or, never finished, created) before ``cutoff``, of experiments
    created before it, in ``workspaces`` (None: all), with their stored rows."""
    batches: list[tuple[uuid.UUID, int]] = []
    finished_before = or_(
        BatchRun.finished_at < cutoff,
        and_(BatchRun.finished_at.is_(None), BatchRun.created_at < cutoff),
    )
    if workspaces is None:
        scopes: list[object] = [None]
    else:
        ids = [workspace for workspace in workspaces if workspace is not None]
        scopes = [Experiment.workspace_id.in_(piece) for piece in _pieces(ids, _IN_CHUNK)]
        if any(workspace is None for workspace in workspaces):
            scopes.append(Experiment.workspace_id.is_(None))
    for scope in scopes:
        query = (
            select(BatchRun.id, BatchRun.stored)
            .join(Experiment, Experiment.id == BatchRun.experiment_id)
            .where(Experiment.created_at < cutoff, finished_before)
        )
        if scope is not None:
            query = query.where(scope)  # type: ignore[arg-type]
        batches.extend((batch_id, stored) for batch_id, stored in await session.execute(query))
    return batches


def _groups(batches: Sequence[tuple[uuid.UUID, int]], rows: int) -> list[list[uuid.UUID]]:
    """The batches in groups of at most ``rows`` stored rows (a larger batch alone), and at
    most :data:`_IN_CHUNK` batches: each group is one bounded statement."""
    groups: list[list[uuid.UUID]] = []
    current: list[uuid.UUID] = []
    size = 0
    for batch_id, stored in batches:
        stored = max(stored, 1)
        if current and (size + stored > rows or len(current) >= _IN_CHUNK):
            groups.append(current)
            current, size = [], 0
        current.append(batch_id)
        size += stored
    if current:
        groups.append(current)
    return groups


async def _redact_iterations(
    pass_: _Pass,
    *,
    batches: Sequence[tuple[uuid.UUID, int]],
    cutoff: datetime,
    now: datetime,
    errors: bool,
) -> int:
    """Redact the answers (or, ``errors``, clear the error texts) of the batches' rows
    stored before ``cutoff``: batches taken in groups of about ``pass_.rows`` stored rows,
    each group's rows changed by one UPDATE of at most ``pass_.rows`` rows per transaction
    (found through the batch index), repeated while it fills up."""
    if errors:
        todo = and_(Iteration.success.is_(False), Iteration.error_message.is_not(None))
        values: dict[str, object] = {"error_message": None}
    else:
        todo = and_(
            Iteration.redacted_at.is_(None),
            or_(Iteration.answer.is_not(None), Iteration.reasoning.is_not(None)),
        )
        values = {"answer": None, "reasoning": None, "redacted_at": now}
    done = 0
    for group in _groups(batches, pass_.rows):
        wanted = and_(Iteration.batch_run_id.in_(group), todo, Iteration.created_at < cutoff)
        if pass_.dry_run:
            async with pass_.session_factory() as session:
                counted = int(
                    await session.scalar(select(func.count()).select_from(Iteration).where(wanted))
                    or 0
                )
            done += counted
            pass_.would_write(counted)
            continue
        while True:
            some = select(Iteration.id).where(wanted).limit(pass_.rows).scalar_subquery()
            changed = await pass_.write(
                update(Iteration).where(Iteration.id.in_(some)).values(**values)
            )
            done += changed
            if changed < pass_.rows:
                break
    return done


async def _redact_answers(pass_: _Pass, *, now: datetime, settings: Settings) -> None:
    groups = await _answer_cutoffs(pass_.session_factory, now=now, settings=settings)
    for days, workspaces in sorted(groups.items()):
        cutoff = now - timedelta(days=days)
        async with pass_.session_factory() as session:
            batches = await _old_batches(session, cutoff=cutoff, workspaces=workspaces)
        pass_.report.answers_redacted += await _redact_iterations(
            pass_, batches=batches, cutoff=cutoff, now=now, errors=False
        )


async def _clear_error_texts(pass_: _Pass, *, cutoff: datetime, now: datetime) -> None:
    async with pass_.session_factory() as session:
        batches = await _old_batches(session, cutoff=cutoff, workspaces=None)
    pass_.report.error_texts_cleared += await _redact_iterations(
        pass_, batches=batches, cutoff=cutoff, now=now, errors=True
    )


async def _delete_oldest(
    pass_: _Pass,
    *,
    ids_query: Select[uuid.UUID],
    model: type[UUIDPrimaryKey],
) -> int:
    """Delete the rows ``ids_query`` selects, ``pass_.rows`` per transaction."""
    done = 0
    while True:
        async with pass_.session_factory() as session:
            ids = list(await session.scalars(ids_query.limit(pass_.rows)))
        if not ids:
            return done
        if pass_.dry_run:
            async with pass_.session_factory() as session:
                counted = int(
                    await session.scalar(
                        select(func.count()).select_from(ids_query.order_by(None).subquery())
                    )
                    or 0
                )
            pass_.would_write(counted)
            return counted
        done += await pass_.write(delete(model).where(model.id.in_(ids)))
        if len(ids) < pass_.rows:
            return done


async def _delete_audit_events(pass_: _Pass, *, cutoff: datetime) -> None:
    pass_.report.audit_events_deleted += await _delete_oldest(
        pass_,
        ids_query=select(AuditEvent.id)
        .where(AuditEvent.created_at < cutoff)
        .order_by(AuditEvent.created_at),
        model=AuditEvent,
    )


async def _delete_mails(pass_: _Pass, *, cutoff: datetime) -> None:
    pass_.report.mails_deleted += await _delete_oldest(
        pass_,
        ids_query=select(OutboundMail.id).where(
            OutboundMail.status.in_([MailStatus.SENT, MailStatus.FAILED]),
            OutboundMail.created_at < cutoff,
        ),
        model=OutboundMail,
    )


async def _delete_tokens(pass_: _Pass, *, cutoff: datetime) -> None:
    """Refresh tokens that expired, were revoked or were used before ``cutoff``, and
    e-mailed tokens that expired or were used before it."""
    pass_.report.sessions_deleted += await _delete_oldest(
        pass_,
        ids_query=select(RefreshToken.id).where(
            or_(
                RefreshToken.expires_at < cutoff,
                RefreshToken.revoked_at < cutoff,
                RefreshToken.used_at < cutoff,
            )
        ),
        model=RefreshToken,
    )
    pass_.report.user_tokens_deleted += await _delete_oldest(
        pass_,
        ids_query=select(UserToken.id).where(
            or_(UserToken.expires_at < cutoff, UserToken.used_at < cutoff)
        ),
        model=UserToken,
    )


async def _purge_deleted_accounts(pass_: _Pass, *, cutoff: datetime, data_dir: Path) -> None:
    """Delete the users deleted before ``cutoff`` (their dependent rows cascade) and the
    files of their data exports (:func:`echo_ai.accounts.export.delete_file`)."""
    async with pass_.session_factory() as session:
        users = list(
            await session.scalars(
                select(User.id).where(User.deleted_at.is_not(None), User.deleted_at < cutoff)
            )
        )
    pieces = _pieces(users, min(pass_.rows, _IN_CHUNK))
    if pass_.dry_run:
        pass_.report.accounts_purged += len(users)
        pass_.report.transactions += len(pieces)
        return
    for piece in pieces:
        # Their export rows go with them (cascade): their files first.
        async with pass_.session_factory() as session:
            files = list(
                await session.scalars(
                    select(DataExport).where(
                        DataExport.user_id.in_(piece), DataExport.file_name.is_not(None)
                    )
                )
            )
        for export in files:
            account_exports.delete_file(data_dir, export)
        pass_.report.accounts_purged += await pass_.write(
            delete(User).where(
                User.id.in_(piece), User.deleted_at.is_not(None), User.deleted_at < cutoff
            )
        )


async def _expire_exports(pass_: _Pass, *, now: datetime, data_dir: Path) -> None:
    """Delete the ZIPs of exports whose link expired, then mark them expired
    (:func:`echo_ai.accounts.export.expire`: exports are few, one short transaction)."""
    if pass_.dry_run:
        async with pass_.session_factory() as session:
            counted = int(
                await session.scalar(
                    select(func.count())
                    .select_from(DataExport)
                    .where(account_exports.expirable(now))
                )
                or 0
            )
        pass_.report.exports_expired += counted
        pass_.report.transactions += 1 if counted else 0
        return
    async with transaction(pass_.session_factory) as session:
        expired = await account_exports.expire(session, data_dir=data_dir, now=now)
    pass_.report.exports_expired += expired
    if expired:
        pass_.report.transactions += 1
