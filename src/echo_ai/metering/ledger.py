"""Moving the monthly counters: what was stored (the writer, as chunks commit) and what is
reserved by calls in flight (the runner, before each call).

Every change is one SQL statement per row, so processes never lose each other's updates,
and a reservation is a conditional UPDATE on the month's row: on PostgreSQL the row lock
serialises reservations of all workers and the condition is re-checked on the locked row;
on SQLite the database's write lock does the same. Together the workers never reserve
past a cap, so spend exceeds it by at most what calls cost beyond their reservations.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import dialect_insert, utcnow
from echo_ai.metering.models import (
    ANSWERS,
    NO_EXPERIMENT,
    ExperimentMonth,
    SpendLine,
    UsageMonth,
    WorkspaceBudget,
)
from echo_ai.metering.units import to_nano


@dataclass(frozen=True)
class StoredLine:
    """Iterations of one experiment's provider stored in one flush, and what they cost; or
    (``purpose`` other than ``answers``) calls made outside an experiment's answers, which
    add cost but no iterations (:mod:`echo_ai.billing.auxiliary`)."""

    workspace_id: uuid.UUID
    experiment_id: uuid.UUID | None
    """None: a call made for no experiment (it counts for the workspace only)."""
    provider: str
    """``vendor:model``."""
    iterations: int
    cost_nusd: int
    purpose: str = ANSWERS


@dataclass(frozen=True)
class Reservation:
    """What one call reserved, released when its row is stored (whatever it cost)."""

    workspace_id: uuid.UUID
    experiment_id: uuid.UUID | None
    """None: a call made for no experiment reserves on the workspace's row only."""
    month: str
    nusd: int


@dataclass(frozen=True)
class Caps:
    """The caps a batch's calls reserve against (nano-USD; None: no cap)."""

    workspace_id: uuid.UUID
    experiment_id: uuid.UUID | None
    """None: the caps of a call made for no experiment (the workspace's budget only)."""
    workspace_nusd: int | None
    experiment_nusd: int | None

    @property
    def any(self) -> bool:
        return self.workspace_nusd is not None or self.experiment_nusd is not None


@dataclass(frozen=True)
class Refusal:
    """Why a reservation was refused: which cap, what it is, what is spent and reserved."""

    scope: str
    """``workspace`` (the monthly budget) or ``experiment`` (its own cap)."""
    cap_nusd: int
    cost_nusd: int
    reserved_nusd: int


async def _ensure_rows(session: AsyncSession, reservation: Reservation) -> None:
    insert = dialect_insert(session)
    await session.execute(
        insert(UsageMonth)
        .values(workspace_id=reservation.workspace_id, month=reservation.month, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["workspace_id", "month"])
    )
    if reservation.experiment_id is None:
        return
    await session.execute(
        insert(ExperimentMonth)
        .values(experiment_id=reservation.experiment_id, month=reservation.month)
        .on_conflict_do_nothing(index_elements=["experiment_id", "month"])
    )


async def caps_of(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    experiment_id: uuid.UUID | None,
    experiment_cap_usd: Any,
) -> Caps:
    """The caps in force for a batch of the experiment: the workspace's budget (if it set
    one) and the experiment's own cap (``experiment_cap_usd``, read with the experiment)."""
    monthly = await session.scalar(
        select(WorkspaceBudget.monthly_usd).where(WorkspaceBudget.workspace_id == workspace_id)
    )
    return Caps(
        workspace_id=workspace_id,
        experiment_id=experiment_id,
        workspace_nusd=None if monthly is None else to_nano(monthly),
        experiment_nusd=None if experiment_cap_usd is None else to_nano(experiment_cap_usd),
    )


async def reserve(
    session: AsyncSession, caps: Caps, nusd: int, *, month: str
) -> Reservation | Refusal:
    """Reserve ``nusd`` for one call on the month's rows of the workspace and of the
    experiment, unless that would take cost plus reservations past a cap. On a refusal
    nothing is changed (the caller's transaction may commit)."""
    reservation = Reservation(caps.workspace_id, caps.experiment_id, month, nusd)
    await _ensure_rows(session, reservation)
    # The workspace's row, then the experiment's: the order the writer and release() lock
    # them in (taken the other way round, a reservation and a store could deadlock).
    checks: list[tuple[str, Any, Any, int | None]] = [
        (
            "workspace",
            UsageMonth,
            and_(UsageMonth.workspace_id == caps.workspace_id, UsageMonth.month == month),
            caps.workspace_nusd,
        ),
    ]
    if caps.experiment_id is not None:
        checks.append(
            (
                "experiment",
                ExperimentMonth,
                and_(
                    ExperimentMonth.experiment_id == caps.experiment_id,
                    ExperimentMonth.month == month,
                ),
                caps.experiment_nusd,
            )
        )
    done: list[tuple[Any, Any]] = []
    for scope, table, key, cap in checks:
        condition = key
        if cap is not None:
            condition = and_(key, table.cost_nusd + table.reserved_nusd + nusd <= cap)
        result: Any = await session.execute(
            update(table)
            .where(condition)
            .values(reserved_nusd=table.reserved_nusd + nusd)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            for undo_table, undo_key in done:  # the other row's reservation, taken back
                await session.execute(
                    update(undo_table)
                    .where(undo_key)
                    .values(reserved_nusd=undo_table.reserved_nusd - nusd)
                    .execution_options(synchronize_session=False)
                )
            row = (
                await session.execute(select(table.cost_nusd, table.reserved_nusd).where(key))
            ).one()
            assert cap is not None
            return Refusal(scope, cap, int(row.cost_nusd), int(row.reserved_nusd))
        done.append((table, key))
    return reservation


def _released(table: Any, nusd: int) -> Any:
    """``reserved_nusd - nusd``, never below zero (a reconciliation may have reset it)."""
    left = table.reserved_nusd - nusd
    return case((left < 0, literal(0)), else_=left)


async def release(session: AsyncSession, reservations: Iterable[Reservation]) -> None:
    """Take back reservations (their calls are stored, or were never sent)."""
    totals: dict[tuple[uuid.UUID, uuid.UUID | None, str], int] = {}
    for item in reservations:
        if item.nusd:
            key = (item.workspace_id, item.experiment_id, item.month)
            totals[key] = totals.get(key, 0) + item.nusd
    for (workspace_id, experiment_id, month), nusd in sorted(totals.items(), key=str):
        await session.execute(
            update(UsageMonth)
            .where(UsageMonth.workspace_id == workspace_id, UsageMonth.month == month)
            .values(reserved_nusd=_released(UsageMonth, nusd))
            .execution_options(synchronize_session=False)
        )
        if experiment_id is None:
            continue
        await session.execute(
            update(ExperimentMonth)
            .where(ExperimentMonth.experiment_id == experiment_id, ExperimentMonth.month == month)
            .values(reserved_nusd=_released(ExperimentMonth, nusd))
            .execution_options(synchronize_session=False)
        )


async def record_stored(session: AsyncSession, lines: Iterable[StoredLine], *, month: str) -> None:
    """Add stored iterations and their cost to the month's counters (workspace, experiment
    and report line). The writer calls it in the transaction that inserts the rows, with
    only the rows actually inserted: a chunk delivered twice is counted once. Auxiliary
    calls' lines (:mod:`echo_ai.billing.auxiliary`) add their cost the same way."""
    insert = dialect_insert(session)
    now = utcnow()
    for line in sorted(lines, key=lambda item: (str(item.workspace_id), str(item.experiment_id))):
        if not (line.iterations or line.cost_nusd):
            continue
        usage = insert(UsageMonth).values(
            workspace_id=line.workspace_id,
            month=month,
            iterations=line.iterations,
            cost_nusd=line.cost_nusd,
            reserved_nusd=0,
            updated_at=now,
        )
        await session.execute(
            usage.on_conflict_do_update(
                index_elements=["workspace_id", "month"],
                set_={
                    "iterations": UsageMonth.iterations + usage.excluded.iterations,
                    "cost_nusd": UsageMonth.cost_nusd + usage.excluded.cost_nusd,
                    "updated_at": now,
                },
            )
        )
        if line.experiment_id is not None:
            await _add_to_experiment(session, line, month=month)
        spend = insert(SpendLine).values(
            workspace_id=line.workspace_id,
            month=month,
            experiment_id=line.experiment_id or NO_EXPERIMENT,
            provider=line.provider,
            purpose=line.purpose,
            iterations=line.iterations,
            cost_nusd=line.cost_nusd,
        )
        await session.execute(
            spend.on_conflict_do_update(
                index_elements=["workspace_id", "month", "experiment_id", "provider", "purpose"],
                set_={
                    "iterations": SpendLine.iterations + spend.excluded.iterations,
                    "cost_nusd": SpendLine.cost_nusd + spend.excluded.cost_nusd,
                },
            )
        )


async def _add_to_experiment(session: AsyncSession, line: StoredLine, *, month: str) -> None:
    insert = dialect_insert(session)
    own = insert(ExperimentMonth).values(
        experiment_id=line.experiment_id,
        month=month,
        iterations=line.iterations,
        cost_nusd=line.cost_nusd,
        reserved_nusd=0,
    )
    await session.execute(
        own.on_conflict_do_update(
            index_elements=["experiment_id", "month"],
            set_={
                "iterations": ExperimentMonth.iterations + own.excluded.iterations,
                "cost_nusd": ExperimentMonth.cost_nusd + own.excluded.cost_nusd,
            },
        )
    )


@dataclass(frozen=True)
class MonthCounters:
    """One month's row of a workspace or an experiment (zeros when it has none yet)."""

    iterations: int = 0
    cost_nusd: int = 0
    reserved_nusd: int = 0

    @property
    def committed_nusd(self) -> int:
        """Cost stored plus cost reserved by calls in flight: what a cap is checked against."""
        return self.cost_nusd + self.reserved_nusd


async def workspace_month(
    session: AsyncSession, workspace_id: uuid.UUID, month: str
) -> MonthCounters:
    """The workspace's counters for ``month``: the one read of them for usage and budgets."""
    return await _counters(
        session,
        UsageMonth,
        and_(UsageMonth.workspace_id == workspace_id, UsageMonth.month == month),
    )


async def experiment_month(
    session: AsyncSession, experiment_id: uuid.UUID, month: str
) -> MonthCounters:
    """The experiment's counters for ``month`` (its own cap is checked against them)."""
    return await _counters(
        session,
        ExperimentMonth,
        and_(ExperimentMonth.experiment_id == experiment_id, ExperimentMonth.month == month),
    )


async def _counters(session: AsyncSession, table: Any, key: Any) -> MonthCounters:
    row = (
        await session.execute(
            select(table.iterations, table.cost_nusd, table.reserved_nusd).where(key)
        )
    ).one_or_none()
    if row is None:
        return MonthCounters()
    return MonthCounters(int(row.iterations), int(row.cost_nusd), int(row.reserved_nusd))
