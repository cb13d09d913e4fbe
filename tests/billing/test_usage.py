"""The month's usage counters: moved by what is stored (once per row, whatever the number
of deliveries), and recomputed from the iterations table by the reconciliation (both
backends)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update

from echo_ai.billing import usage
from echo_ai.config import PlanLimits
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.execution.writer import METER, Meter, insert_iterations
from echo_ai.experiments import service as experiment_service
from echo_ai.metering import ledger
from echo_ai.metering.ledger import StoredLine
from echo_ai.metering.models import NO_EXPERIMENT, ExperimentMonth, SpendLine, UsageMonth
from echo_ai.metering.units import month_of, to_nano
from echo_ai.runs.models import BatchRun, Experiment, Iteration
from echo_ai.workspaces import quotas
from echo_ai.workspaces.models import Workspace
from tests.factories import experiment_input, failed_row, stored_batches

pytestmark = pytest.mark.usefixtures("backend")


async def _workspace(runtime: Runtime) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name="Acme", personal=False)
        session.add(workspace)
        await session.flush()
        return workspace.id


async def _experiment(runtime: Runtime, workspace_id: uuid.UUID, **overrides: object) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(**{"iterations": 12, **overrides}),
            chunk_size=5,
            workspace_id=workspace_id,
        )
        return created.id


async def _month(runtime: Runtime, workspace_id: uuid.UUID) -> tuple[int, int, int]:
    async with transaction(runtime.session_factory) as session:
        row = (
            await session.execute(
                select(UsageMonth.iterations, UsageMonth.cost_nusd, UsageMonth.reserved_nusd).where(
                    UsageMonth.workspace_id == workspace_id, UsageMonth.month == month_of(utcnow())
                )
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


async def test_a_demo_run_moves_the_months_counter(runtime: Runtime) -> None:
    workspace_id = await _workspace(runtime)
    experiment_id = await _experiment(runtime, workspace_id, providers=["demo", "demo:b"])

    await runtime.executor.run_experiment(experiment_id)

    assert (await _month(runtime, workspace_id))[0] == 24
    async with transaction(runtime.session_factory) as session:
        shown = await quotas.usage_of(
            session, workspace_id, now=utcnow(), settings=runtime.settings
        )
        lines = {
            line.provider: line.iterations
            for line in await session.scalars(
                select(SpendLine).where(SpendLine.workspace_id == workspace_id)
            )
        }
    assert shown.metered.iterations == 24 and shown.metered.in_flight == 0
    assert lines == {"demo:demo-synthetic-1": 12, "demo:b": 12}


def _priced_rows(
    batch: BatchRun, workspace_id: uuid.UUID, indexes: range
) -> list[dict[str, object]]:
    """Rows as the runner hands them to the writer, each costing $0.0015, with the meter."""
    meter = Meter(workspace_id, batch.experiment_id, f"{batch.provider}:{batch.model}")
    return [
        failed_row(batch.id, index) | {"cost_usd": Decimal("0.0015"), METER: meter}
        for index in indexes
    ]


async def test_a_chunk_delivered_twice_counts_once(runtime: Runtime) -> None:
    workspace_id = await _workspace(runtime)
    experiment_id = await _experiment(runtime, workspace_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(session, _priced_rows(batch, workspace_id, range(5)))

    # The same chunk again (a worker died after committing it), and a chunk overlapping it.
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(session, _priced_rows(batch, workspace_id, range(5)))
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(session, _priced_rows(batch, workspace_id, range(3, 8)))

    assert await _month(runtime, workspace_id) == (8, to_nano(Decimal("0.012")), 0)
    async with transaction(runtime.session_factory) as session:
        own = await session.get(ExperimentMonth, (experiment_id, month_of(utcnow())))
    assert own is not None and own.iterations == 8


async def test_reconcile_repairs_a_counter_that_drifted_and_is_idempotent(
    runtime: Runtime,
) -> None:
    workspace_id = await _workspace(runtime)
    experiment_id = await _experiment(runtime, workspace_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(session, _priced_rows(batch, workspace_id, range(6)))
    right = (6, to_nano(Decimal("0.009")))
    month = month_of(utcnow())
    # Drift: the counters say something else than the iterations stored.
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(UsageMonth)
            .where(UsageMonth.workspace_id == workspace_id)
            .values(iterations=999, cost_nusd=1, reserved_nusd=5_000)
        )
        await session.execute(update(ExperimentMonth).values(iterations=0, reserved_nusd=7))
        await session.execute(update(SpendLine).values(iterations=3, cost_nusd=3))
    # Another month's iterations are not counted in this one.
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Iteration)
            .where(Iteration.batch_run_id == batch.id, Iteration.index == 5)
            .values(created_at=datetime(2001, 1, 15, tzinfo=UTC))
        )
    right = (5, to_nano(Decimal("0.0075")))

    # The batch is still queued (active): its reservations stay.
    async with transaction(runtime.session_factory) as session:
        found = await usage.reconcile(session, month=month)
    assert found.repaired == [workspace_id] and found.reservations_cleared == 0
    assert await _month(runtime, workspace_id) == (*right, 5_000)

    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(BatchRun).where(BatchRun.id == batch.id).values(status="cancelled")
        )
        found = await usage.reconcile(session, month=month)
    assert found.repaired == [] and found.reservations_cleared == 1  # nothing left to repair
    assert await _month(runtime, workspace_id) == (*right, 0)
    async with transaction(runtime.session_factory) as session:
        own = await session.get(ExperimentMonth, (experiment_id, month))
        (line,) = await session.scalars(select(SpendLine).where(SpendLine.month == month))
    assert own is not None and (own.iterations, own.cost_nusd, own.reserved_nusd) == (*right, 0)
    assert (line.iterations, line.cost_nusd) == right

    async with transaction(runtime.session_factory) as session:
        again = await usage.reconcile(session, month=month)
    assert again.repaired == [] and await _month(runtime, workspace_id) == (*right, 0)


async def test_reconcile_keeps_auxiliary_calls_whose_line_is_their_only_record(
    runtime: Runtime,
) -> None:
    workspace_id = await _workspace(runtime)
    experiment_id = await _experiment(runtime, workspace_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    month = month_of(utcnow())
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(session, _priced_rows(batch, workspace_id, range(2)))
        await ledger.record_stored(
            session,
            [
                StoredLine(workspace_id, experiment_id, "openai:gpt-4o-mini", 0, 700, "judge"),
                StoredLine(workspace_id, None, "openai:gpt-4o-mini", 0, 40, "candidate_prompts"),
            ],
            month=month,
        )
    answers = to_nano(Decimal("0.003"))
    assert await _month(runtime, workspace_id) == (2, answers + 740, 0)
    async with transaction(runtime.session_factory) as session:
        await session.execute(update(UsageMonth).values(cost_nusd=1))
        await session.execute(update(ExperimentMonth).values(cost_nusd=1))
        found = await usage.reconcile(session, month=month)
    assert found.repaired == [workspace_id]
    assert await _month(runtime, workspace_id) == (2, answers + 740, 0)
    async with transaction(runtime.session_factory) as session:
        own = await session.get(ExperimentMonth, (experiment_id, month))
        lines = {
            (line.experiment_id, line.purpose): (line.iterations, line.cost_nusd)
            for line in await session.scalars(select(SpendLine).where(SpendLine.month == month))
        }
    assert own is not None and (own.iterations, own.cost_nusd) == (2, answers + 700)
    assert lines == {
        (experiment_id, "answers"): (2, answers),
        (experiment_id, "judge"): (0, 700),
        (NO_EXPERIMENT, "candidate_prompts"): (0, 40),
    }


async def test_reconcile_reads_only_the_months_batches_and_keeps_deleted_experiments_use(
    runtime: Runtime,
) -> None:
    workspace_id = await _workspace(runtime)
    kept = await _experiment(runtime, workspace_id)
    gone = await _experiment(runtime, workspace_id)
    old = await _experiment(runtime, workspace_id)
    for experiment_id in (kept, gone):
        (batch,) = await stored_batches(runtime.session_factory, experiment_id)
        async with transaction(runtime.session_factory) as session:
            await insert_iterations(session, _priced_rows(batch, workspace_id, range(4)))
    (ancient,) = await stored_batches(runtime.session_factory, old)
    async with transaction(runtime.session_factory) as session:
        # A batch that finished years ago could not have stored this month: never read.
        await session.execute(
            update(BatchRun)
            .where(BatchRun.id == ancient.id)
            .values(
                status="completed",
                created_at=datetime(2001, 1, 1, tzinfo=UTC),
                finished_at=datetime(2001, 1, 2, tzinfo=UTC),
                heartbeat_at=datetime(2001, 1, 2, tzinfo=UTC),
            )
        )
        await session.execute(delete(Experiment).where(Experiment.id == gone))
    month = month_of(utcnow())

    async with transaction(runtime.session_factory) as session:
        found = await usage.reconcile(session, month=month)

    assert found.batches == 1  # the kept experiment's only
    # The deleted experiment's iterations are gone with it, but its use this month stays.
    assert (await _month(runtime, workspace_id))[0] == 8


async def test_the_scheduler_reconciles_once_per_utc_day(runtime: Runtime) -> None:
    from echo_ai.schedules.scheduler import Scheduler

    workspace_id = await _workspace(runtime)
    experiment_id = await _experiment(runtime, workspace_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(session, _priced_rows(batch, workspace_id, range(3)))
        await session.execute(update(UsageMonth).values(iterations=40))
        # Cancelled: the tick's sweep has nothing to run, only the reconciliation to do.
        await session.execute(
            update(BatchRun)
            .where(BatchRun.id == batch.id)
            .values(status="cancelled", finished_at=utcnow())
        )
    scheduler = Scheduler.of(runtime)
    now = utcnow()

    first = await scheduler.tick(now=now)
    # Every daily task ran (others than these two follow them).
    assert first.daily[:2] == ["subscription grace periods", "usage reconciliation"]
    assert first.daily == [task.name for task in scheduler.daily_tasks]
    assert (await _month(runtime, workspace_id))[0] == 3

    async with transaction(runtime.session_factory) as session:
        await session.execute(update(UsageMonth).values(iterations=40))
    later = await scheduler.tick(now=now.replace(hour=23, minute=59) if now.hour < 23 else now)
    assert later.daily == []  # the same UTC day: not again
    assert (await _month(runtime, workspace_id))[0] == 40


async def test_the_plan_and_whats_left(runtime: Runtime) -> None:
    workspace_id = await _workspace(runtime)
    runtime.settings.billing.free = PlanLimits(iterations_per_month=100, members=4)
    experiment_id = await _experiment(runtime, workspace_id, schedule={"cron": "0 * * * *"})
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(session, _priced_rows(batch, workspace_id, range(2)))
        shown = await quotas.usage_of(
            session, workspace_id, now=utcnow(), settings=runtime.settings
        )
    limits = {quota.name: (quota.limit, quota.used, quota.left) for quota in shown.quotas}
    assert limits["iterations_per_month"] == (100, 12, 88)  # 2 stored + 10 in flight
    assert limits["scheduled_experiments"] == (1, 1, 0)
    assert limits["members"] == (4, 0, 4)
    assert shown.metered.cost_usd == Decimal("0.003")
