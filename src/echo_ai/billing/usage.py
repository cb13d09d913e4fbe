"""What a workspace has used this month, and the daily reconciliation of the counters.

The month's iterations and their cost are counted as they are stored: the writer moves
:class:`~echo_ai.metering.models.UsageMonth`, :class:`~echo_ai.metering.models.ExperimentMonth`
and :class:`~echo_ai.metering.models.SpendLine` in the transaction that inserts the rows,
only for rows actually inserted (a chunk delivered twice counts once). :func:`metered`
reads them with what is in flight and how many experiments have a schedule, without
reading iterations; the plan's limits and the members are added by
:func:`echo_ai.workspaces.quotas.usage_of` (the plan lives with the workspace, a layer up).

:func:`reconcile` recomputes a month's counters from the iterations table, once a day (the
scheduler's maintenance step) or by hand (``echo-ai usage --reconcile``), so that a counter
that drifted (a crash between two systems, a hand edit, a bug) is repaired.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.db import dialect_insert, transaction, utcnow
from echo_ai.metering import ledger
from echo_ai.metering.models import ANSWERS, ExperimentMonth, SpendLine, UsageMonth
from echo_ai.metering.units import month_of, to_nano, to_usd
from echo_ai.runs.models import ACTIVE_STATUSES, BatchRun, Experiment, ExperimentStatus, Iteration

_UNFINISHED_EXPERIMENT = (ExperimentStatus.QUEUED, ExperimentStatus.RUNNING)

RECONCILE_PAGE = 500
"""Batches read per query while reconciling (the memory it takes stays bounded)."""


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first moment of the ``YYYY-MM`` month and of the next, in UTC (ValueError for
    anything else)."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, following


def _in_flight(workspace_id: uuid.UUID) -> Any:
    """Iterations of the workspace's unfinished batch runs not stored yet: one sum over the
    batches of its queued and running experiments (an index range each), never over
    iterations."""
    return (
        select(func.coalesce(func.sum(BatchRun.iterations_requested - BatchRun.stored), 0))
        .join(Experiment, Experiment.id == BatchRun.experiment_id)
        .where(
            Experiment.workspace_id == workspace_id,
            Experiment.status.in_(_UNFINISHED_EXPERIMENT),
            BatchRun.status.in_(ACTIVE_STATUSES),
        )
        .scalar_subquery()
    )


@dataclass(frozen=True)
class MonthUsage:
    counters: ledger.MonthCounters
    in_flight: int


async def month_usage(session: AsyncSession, workspace_id: uuid.UUID, month: str) -> MonthUsage:
    """The workspace's month counters and its iterations in flight, read in one statement:
    one snapshot on both databases. (Two reads would miss the rows stored between them,
    counted neither as stored nor as in flight.)"""

    def counter(column: Any) -> Any:
        return func.coalesce(
            select(column)
            .where(UsageMonth.workspace_id == workspace_id, UsageMonth.month == month)
            .scalar_subquery(),
            0,
        )

    row = (
        await session.execute(
            select(
                counter(UsageMonth.iterations),
                counter(UsageMonth.cost_nusd),
                counter(UsageMonth.reserved_nusd),
                _in_flight(workspace_id),
            )
        )
    ).one()
    iterations, cost, reserved, in_flight = (int(value or 0) for value in row)
    return MonthUsage(ledger.MonthCounters(iterations, cost, reserved), in_flight)


async def scheduled_experiments(
    session: AsyncSession, workspace_id: uuid.UUID, *, besides: uuid.UUID | None = None
) -> int:
    """Experiments of the workspace with a schedule (paused ones included), ``besides``
    one (an experiment whose schedule is being replaced does not count twice)."""
    query = select(func.count()).where(
        Experiment.workspace_id == workspace_id, Experiment.schedule_cron.is_not(None)
    )
    if besides is not None:
        query = query.where(Experiment.id != besides)
    return int(await session.scalar(query) or 0)


@dataclass(frozen=True)
class Metered:
    """One workspace's month as the counters have it."""

    month: str
    iterations: int
    """Stored this month."""
    cost_usd: Any
    """What they cost (a ``Decimal``): prices of stored answers, fees included."""
    reserved_usd: Any
    """What calls in flight have reserved of the budget (a ``Decimal``)."""
    in_flight: int
    """Iterations queued or running, not stored yet."""
    scheduled_experiments: int


async def metered(session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime) -> Metered:
    month = month_of(now)
    usage = await month_usage(session, workspace_id, month)
    return Metered(
        month=month,
        iterations=usage.counters.iterations,
        cost_usd=to_usd(usage.counters.cost_nusd),
        reserved_usd=to_usd(usage.counters.reserved_nusd),
        in_flight=usage.in_flight,
        scheduled_experiments=await scheduled_experiments(session, workspace_id),
    )


# --- reconciliation --------------------------------------------------------------------


@dataclass
class Reconciled:
    """What :func:`reconcile` found and set."""

    month: str
    workspaces: int = 0
    """Workspaces whose counters were recomputed."""
    batches: int = 0
    """Batches read (those that could have stored in the month)."""
    repaired: list[uuid.UUID] = field(default_factory=list)
    """Workspaces whose stored iterations or cost counter was wrong (now right)."""
    reservations_cleared: int = 0
    """Workspaces whose reservations were reset (nothing of theirs was in flight)."""


def _could_store_in(start: datetime, end: datetime) -> Any:
    """A batch that may have stored an iteration in ``[start, end)``: created before the
    end, and not finished before the start (its last sign of life, ``heartbeat_at``, moves
    with every stored chunk, so a batch resumed after finishing still qualifies)."""
    return and_(
        BatchRun.created_at < end,
        or_(
            BatchRun.finished_at.is_(None),
            BatchRun.finished_at >= start,
            BatchRun.heartbeat_at >= start,
        ),
    )


async def _lock_usage(session: AsyncSession, workspace_id: uuid.UUID, month: str) -> None:
    """The workspace's month row, created if missing and write-locked (a no-op UPDATE) until
    the transaction ends: a writer storing rows meanwhile waits for it, so its rows are
    either read here or added to the counter after (never lost, never twice)."""
    await session.execute(
        dialect_insert(session)(UsageMonth)
        .values(workspace_id=workspace_id, month=month, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["workspace_id", "month"])
    )
    await session.execute(
        update(UsageMonth)
        .where(UsageMonth.workspace_id == workspace_id, UsageMonth.month == month)
        .values(iterations=UsageMonth.iterations)
        .execution_options(synchronize_session=False)
    )


async def _batch_totals(
    session: AsyncSession, batch_id: uuid.UUID, start: datetime, end: datetime
) -> tuple[int, int]:
    """Iterations of one batch stored in ``[start, end)`` and their cost in nano-USD, read
    through the batch's index. PostgreSQL sums the exact NUMERIC costs; SQLite keeps them
    as text, so they are streamed and added here (never as floats)."""
    in_month = and_(
        Iteration.batch_run_id == batch_id,
        Iteration.created_at >= start,
        Iteration.created_at < end,
    )
    if session.get_bind().dialect.name == "postgresql":
        row = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(Iteration.cost_usd), 0)).where(in_month)
            )
        ).one()
        return int(row[0]), to_nano(row[1])
    count = 0
    cost = 0
    for value in await session.scalars(select(Iteration.cost_usd).where(in_month)):
        count += 1
        cost += to_nano(value)
    return count, cost


async def workspaces_to_reconcile(session: AsyncSession, *, month: str) -> list[uuid.UUID]:
    """The workspaces whose counters of ``month`` :func:`reconcile` would recompute: those
    with a counter that month, and those with a batch that could have stored in it."""
    start, end = month_bounds(month)
    return await _workspaces_to_reconcile(session, month, start, end)


async def _workspaces_to_reconcile(
    session: AsyncSession, month: str, start: datetime, end: datetime
) -> list[uuid.UUID]:
    counted = select(UsageMonth.workspace_id).where(UsageMonth.month == month)
    stored = (
        select(Experiment.workspace_id)
        .join(BatchRun, BatchRun.experiment_id == Experiment.id)
        .where(Experiment.workspace_id.is_not(None), _could_store_in(start, end))
        .distinct()
    )
    found = set(await session.scalars(counted)) | set(await session.scalars(stored))
    return sorted((workspace for workspace in found if workspace is not None), key=str)


async def _reconcile_workspace(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    month: str,
    start: datetime,
    end: datetime,
    result: Reconciled,
) -> None:
    await _lock_usage(session, workspace_id, month)
    lines: Counter[tuple[uuid.UUID, str]] = Counter()
    costs: Counter[tuple[uuid.UUID, str]] = Counter()
    after: uuid.UUID | None = None
    while True:
        query = (
            select(BatchRun.id, BatchRun.experiment_id, BatchRun.provider, BatchRun.model)
            .join(Experiment, Experiment.id == BatchRun.experiment_id)
            .where(Experiment.workspace_id == workspace_id, _could_store_in(start, end))
            .order_by(BatchRun.id)
            .limit(RECONCILE_PAGE)
        )
        if after is not None:
            query = query.where(BatchRun.id > after)
        page = (await session.execute(query)).all()
        for batch in page:
            count, cost = await _batch_totals(session, batch.id, start, end)
            if count:
                key = (batch.experiment_id, f"{batch.provider}:{batch.model}")
                lines[key] += count
                costs[key] += cost
        result.batches += len(page)
        if len(page) < RECONCILE_PAGE:
            break
        after = page[-1].id
    await _write_lines(session, workspace_id, month, lines, costs)
    await _write_totals(session, workspace_id, month, result)


async def _write_lines(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    month: str,
    lines: Counter[tuple[uuid.UUID, str]],
    costs: Counter[tuple[uuid.UUID, str]],
) -> None:
    """Spend lines and experiment months as the iterations have them. Lines of experiments
    that no longer exist stay as they are (their iterations are gone with them, but what
    they used this month was used: deleting an experiment gives no quota back). Lines of
    auxiliary calls (any purpose but answers) have no rows to be recomputed from: they
    stay, and their cost counts in their experiment's month."""
    existing = set(
        await session.scalars(select(Experiment.id).where(Experiment.workspace_id == workspace_id))
    )
    stored_lines = (
        await session.execute(
            select(
                SpendLine.experiment_id, SpendLine.provider, SpendLine.purpose, SpendLine.cost_nusd
            ).where(SpendLine.workspace_id == workspace_id, SpendLine.month == month)
        )
    ).all()
    auxiliary: Counter[uuid.UUID] = Counter()
    for row in stored_lines:
        if row.purpose != ANSWERS and row.experiment_id in existing:
            auxiliary[row.experiment_id] += int(row.cost_nusd)
    insert = dialect_insert(session)
    keys = set(lines) | {
        (row.experiment_id, row.provider)
        for row in stored_lines
        if row.experiment_id in existing and row.purpose == ANSWERS
    }
    for experiment_id, provider in sorted(keys, key=str):
        line = insert(SpendLine).values(
            workspace_id=workspace_id,
            month=month,
            experiment_id=experiment_id,
            provider=provider,
            purpose=ANSWERS,
            iterations=lines[experiment_id, provider],
            cost_nusd=costs[experiment_id, provider],
        )
        await session.execute(
            line.on_conflict_do_update(
                index_elements=["workspace_id", "month", "experiment_id", "provider", "purpose"],
                set_={"iterations": line.excluded.iterations, "cost_nusd": line.excluded.cost_nusd},
            )
        )
    per_experiment: dict[uuid.UUID, tuple[int, int]] = {}
    for (experiment_id, provider), count in lines.items():
        done, cost = per_experiment.get(experiment_id, (0, 0))
        per_experiment[experiment_id] = (done + count, cost + costs[experiment_id, provider])
    own = (
        set(
            await session.scalars(
                select(ExperimentMonth.experiment_id).where(
                    ExperimentMonth.month == month, ExperimentMonth.experiment_id.in_(existing)
                )
            )
        )
        if existing
        else set()
    )
    for experiment_id in sorted(own | set(per_experiment) | set(auxiliary), key=str):
        count, cost = per_experiment.get(experiment_id, (0, 0))
        cost += auxiliary[experiment_id]
        row = insert(ExperimentMonth).values(
            experiment_id=experiment_id,
            month=month,
            iterations=count,
            cost_nusd=cost,
            reserved_nusd=0,
        )
        await session.execute(
            row.on_conflict_do_update(
                index_elements=["experiment_id", "month"],
                set_={"iterations": row.excluded.iterations, "cost_nusd": row.excluded.cost_nusd},
            )
        )


async def _write_totals(
    session: AsyncSession, workspace_id: uuid.UUID, month: str, result: Reconciled
) -> None:
    """The workspace's month: the sum of its spend lines (deleted experiments' included);
    its reservations reset when nothing of it is queued or running (none can be owed)."""
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(SpendLine.iterations), 0),
                func.coalesce(func.sum(SpendLine.cost_nusd), 0),
            ).where(SpendLine.workspace_id == workspace_id, SpendLine.month == month)
        )
    ).one()
    iterations, cost = int(totals[0]), int(totals[1])
    before = (
        await session.execute(
            select(UsageMonth.iterations, UsageMonth.cost_nusd, UsageMonth.reserved_nusd).where(
                UsageMonth.workspace_id == workspace_id, UsageMonth.month == month
            )
        )
    ).one()
    values: dict[str, Any] = {"iterations": iterations, "cost_nusd": cost, "updated_at": utcnow()}
    active = await session.scalar(
        select(BatchRun.id)
        .join(Experiment, Experiment.id == BatchRun.experiment_id)
        .where(Experiment.workspace_id == workspace_id, BatchRun.status.in_(ACTIVE_STATUSES))
        .limit(1)
    )
    if active is None:
        values["reserved_nusd"] = 0
        if before.reserved_nusd:
            result.reservations_cleared += 1
        await session.execute(
            update(ExperimentMonth)
            .where(
                ExperimentMonth.month == month,
                ExperimentMonth.experiment_id.in_(
                    select(Experiment.id).where(Experiment.workspace_id == workspace_id)
                ),
                ExperimentMonth.reserved_nusd != 0,
            )
            .values(reserved_nusd=0)
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(UsageMonth)
        .where(UsageMonth.workspace_id == workspace_id, UsageMonth.month == month)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if (int(before.iterations), int(before.cost_nusd)) != (iterations, cost):
        result.repaired.append(workspace_id)
    result.workspaces += 1


async def reconcile(
    session: AsyncSession, *, month: str, workspaces: Iterable[uuid.UUID] | None = None
) -> Reconciled:
    """Recompute the counters of ``month`` (``YYYY-MM``) from the iterations table: each
    workspace's stored iterations and cost (:class:`UsageMonth`), its experiments'
    (:class:`ExperimentMonth`) and its spend lines (:class:`SpendLine`).

    It never reads all the iterations of all time: only the batches that could have stored
    in the month (created before its end, not finished before its start) are read, a page
    at a time, and of each only its iterations created in the month, through the batch's
    index; so the work grows with the month's batches, not with history. Iterations count
    in the month of their ``created_at`` (the writer counts them at their commit, a moment
    later: a row at a month's last instant may move between months).

    Each workspace's month row is write-locked before its iterations are read, so a chunk
    stored meanwhile is counted exactly once (the writer waits for the lock, and adds its
    rows after). It sets values, never adds: running it twice gives the same counters.
    Reserved amounts are reset to 0 only for workspaces with no queued or running batch
    (a reservation left by a crashed call is owed by nobody); others keep theirs.
    ``workspaces`` limits it to some workspaces (all by default).
    """
    start, end = month_bounds(month)
    result = Reconciled(month=month)
    chosen = (
        sorted(set(workspaces), key=str)
        if workspaces is not None
        else await _workspaces_to_reconcile(session, month, start, end)
    )
    for workspace_id in chosen:
        await _reconcile_workspace(session, workspace_id, month, start, end, result)
    await session.flush()
    return result


async def reconcile_each(
    session_factory: async_sessionmaker[AsyncSession], *, month: str
) -> Reconciled:
    """:func:`reconcile` every workspace of ``month``, each in a transaction of its own
    whose first statement takes the write lock (the month row's), so that no transaction
    holds SQLite's write lock for long, nor reads before it writes (a stale snapshot);
    the list of workspaces is read in a transaction of its own first. A workspace added
    meanwhile is reconciled the next time."""
    async with transaction(session_factory) as session:
        chosen = await workspaces_to_reconcile(session, month=month)
    total = Reconciled(month=month)
    for workspace_id in chosen:
        async with transaction(session_factory) as session:
            found = await reconcile(session, month=month, workspaces=[workspace_id])
        total.workspaces += found.workspaces
        total.batches += found.batches
        total.repaired.extend(found.repaired)
        total.reservations_cleared += found.reservations_cleared
    return total
