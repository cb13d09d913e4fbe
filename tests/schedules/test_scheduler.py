"""The scheduler on a real database: due runs start once, missed ones once, stalled
batches are dispatched again."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import is_sqlite, transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentStatus, Iteration
from echo_ai.schedules import cron as cron_times
from echo_ai.schedules import service as schedule_service
from echo_ai.schedules.scheduler import (
    Scheduler,
    claim_stalled,
    stalled_candidates,
    start_due_runs,
)
from echo_ai.schedules.schemas import ScheduleIn
from tests.factories import stored_experiment

pytestmark = pytest.mark.usefixtures("backend")

HOURLY = {"cron": "0 * * * *"}


async def _scheduled(runtime: Runtime, *, run_first: bool = True, **overrides: object) -> uuid.UUID:
    experiment_id = await stored_experiment(
        runtime.session_factory, chunk_size=5, iterations=10, schedule=HOURLY, **overrides
    )
    if run_first:
        await runtime.executor.run_experiment(experiment_id)
    return experiment_id


async def _set(runtime: Runtime, experiment_id: uuid.UUID, **values: object) -> None:
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Experiment).where(Experiment.id == experiment_id).values(values)
        )


async def _experiment(runtime: Runtime, experiment_id: uuid.UUID) -> Experiment:
    async with transaction(runtime.session_factory) as session:
        return await experiment_service.get(session, experiment_id)


def test_schedules_are_validated() -> None:
    assert ScheduleIn(cron=" 0  9 * * 1 ").cron == "0 9 * * 1"
    assert ScheduleIn(cron="@DAILY", timezone="Europe/Paris").cron == "@daily"
    for cron in ("bad", "0 9 * * 1 2026", "61 * * * *"):
        with pytest.raises(ValidationError, match="five fields"):
            ScheduleIn(cron=cron)
    for cron in ("* * * * *", "0,2 * * * *"):
        with pytest.raises(ValidationError, match="at least 5 minutes apart"):
            ScheduleIn(cron=cron)
    with pytest.raises(ValidationError, match="unknown time zone"):
        ScheduleIn(cron="@daily", timezone="Mars/Olympus")


def test_next_run_reads_the_cron_in_its_time_zone() -> None:
    after = datetime(2026, 11, 25, 10, 7, tzinfo=UTC)  # a Wednesday
    assert cron_times.next_run("0 9 * * 1", "Europe/Paris", after=after) == datetime(
        2026, 11, 30, 8, 0, tzinfo=UTC
    )
    assert cron_times.next_run("0 * * * *", "UTC", after=after) == datetime(
        2026, 11, 25, 11, 0, tzinfo=UTC
    )


def test_daylight_saving_changes_neither_repeat_nor_lose_a_run() -> None:
    def runs(cron: str, after: datetime, count: int) -> list[datetime]:
        found = []
        for _ in range(count):
            after = cron_times.next_run(cron, "Europe/Paris", after=after)
            found.append(after)
        return found

    # Clocks go back on 2026-10-25: 02:30 happens twice, the run once (at its first).
    autumn = runs("30 2 * * *", datetime(2026, 10, 24, 12, 0, tzinfo=UTC), 2)
    assert autumn == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]
    # Clocks go forward on 2026-03-29: 02:30 does not exist, the run is at 03:30.
    spring = runs("30 2 * * *", datetime(2026, 3, 28, 12, 0, tzinfo=UTC), 2)
    assert spring == [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]


def test_random_and_hashed_cron_fields_are_refused() -> None:
    for cron in ("R 9 * * *", "H/30 * * * *"):
        with pytest.raises(ValidationError, match="five fields"):
            ScheduleIn(cron=cron)
    assert ScheduleIn(cron="0 9 * MAR THU").cron == "0 9 * MAR THU"


async def test_a_due_schedule_runs_once_and_missed_times_are_not_made_up(
    runtime: Runtime,
) -> None:
    experiment_id = await _scheduled(runtime)
    now = datetime.now(UTC)
    await _set(runtime, experiment_id, next_run_at=now - timedelta(hours=5))  # 5 missed

    async with transaction(runtime.session_factory) as session:
        started = await start_due_runs(session, now=now, settings=runtime.settings)
    async with transaction(runtime.session_factory) as session:
        again = await start_due_runs(
            session, now=now + timedelta(seconds=1), settings=runtime.settings
        )
    assert [(batch.experiment_id, batch.round) for batch in started] == [(experiment_id, 2)]
    assert again == []
    async with transaction(runtime.session_factory) as session:
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "experiment.run_started")
            )
        )
    assert [(e.target_id, e.actor_type, e.details["run"]) for e in events] == [
        (str(experiment_id), "scheduler", 2)
    ]

    experiment = await _experiment(runtime, experiment_id)
    assert experiment.runs == 2 and experiment.status == ExperimentStatus.QUEUED
    assert experiment.next_run_at == cron_times.next_run("0 * * * *", "UTC", after=now)
    assert experiment.next_run_at > now
    assert sorted(batch.round for batch in experiment.batch_runs) == [1, 2]

    await runtime.executor.run_experiment(experiment_id)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        report = await experiment_service.report(session, experiment)
    assert experiment.status == ExperimentStatus.COMPLETED
    assert [batch.round for batch, _ in report.batches] == [2]
    assert [batch.round for batch, _ in report.earlier] == [1]
    assert report.combined is not None and report.combined.iterations == 10


async def test_an_experiment_that_cannot_run_does_not_block_the_others(
    runtime: Runtime,
) -> None:
    broken_provider = await _scheduled(runtime)
    broken_cron = await _scheduled(runtime)
    healthy = await _scheduled(runtime)
    now = datetime.now(UTC)
    due = now - timedelta(minutes=1)
    await _set(runtime, broken_provider, next_run_at=due - timedelta(minutes=2), providers=["x"])
    await _set(runtime, broken_cron, next_run_at=due - timedelta(minutes=1), schedule_cron="?")
    await _set(runtime, healthy, next_run_at=due)

    result = await Scheduler.of(runtime).tick(now=now)

    assert result.started == [healthy]
    assert (await _experiment(runtime, healthy)).runs == 2
    provider = await _experiment(runtime, broken_provider)
    assert provider.runs == 1 and provider.next_run_at is not None
    assert provider.next_run_at > now  # tried again at its next time, not every tick
    cron = await _experiment(runtime, broken_cron)
    assert cron.schedule_paused and cron.next_run_at is None and cron.runs == 1


async def test_concurrent_schedulers_start_a_due_run_once(runtime: Runtime) -> None:
    experiment_id = await _scheduled(runtime)
    now = datetime.now(UTC)
    await _set(runtime, experiment_id, next_run_at=now - timedelta(minutes=1))

    async def tick() -> list[BatchRun]:
        async with transaction(runtime.session_factory) as session:
            return await start_due_runs(session, now=now, settings=runtime.settings)

    results = await asyncio.gather(*(tick() for _ in range(4)))
    assert sorted(len(started) for started in results) == [0, 0, 0, 1]
    assert (await _experiment(runtime, experiment_id)).runs == 2


async def test_paused_or_still_running_experiments_do_not_start_another_run(
    runtime: Runtime,
) -> None:
    paused = await _scheduled(runtime)
    busy = await _scheduled(runtime, run_first=False)  # its first run is still queued
    now = datetime.now(UTC)
    await _set(runtime, paused, next_run_at=now - timedelta(minutes=1), schedule_paused=True)
    await _set(runtime, busy, next_run_at=now - timedelta(minutes=1))

    async with transaction(runtime.session_factory) as session:
        assert await start_due_runs(session, now=now, settings=runtime.settings) == []
    skipped = await _experiment(runtime, busy)
    assert skipped.runs == 1 and skipped.next_run_at is not None and skipped.next_run_at > now

    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, paused)
        await schedule_service.resume(
            session, experiment.workspace_id, paused, actor=Actor.cli(), now=now
        )
    resumed = await _experiment(runtime, paused)
    assert not resumed.schedule_paused
    assert resumed.next_run_at is not None and resumed.next_run_at > now


async def _claim_stalled(
    session: AsyncSession, *, now: datetime, stalled_after: timedelta
) -> list[BatchRun]:
    """The sweep with no broker: the candidates, then their claim."""
    candidates = await stalled_candidates(session, now=now, stalled_after=stalled_after)
    return await claim_stalled(session, candidates, now=now, stalled_after=stalled_after)


async def test_stalled_batches_are_claimed_once_per_period_then_finish(runtime: Runtime) -> None:
    experiment_id = await _scheduled(runtime, run_first=False)
    now = datetime.now(UTC)
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(BatchRun)
            .where(BatchRun.experiment_id == experiment_id)
            .values(status=BatchStatus.RUNNING, heartbeat_at=now - timedelta(minutes=20))
        )
    window = timedelta(minutes=10)

    async with transaction(runtime.session_factory) as session:
        stalled = await _claim_stalled(session, now=now, stalled_after=window)
    async with transaction(runtime.session_factory) as session:
        again = await _claim_stalled(session, now=now + timedelta(minutes=1), stalled_after=window)
    assert [batch.experiment_id for batch in stalled] == [experiment_id] and again == []

    await runtime.executor.run_batches(stalled)
    async with transaction(runtime.session_factory) as session:
        statuses = list(
            await session.scalars(
                select(BatchRun.status).where(BatchRun.experiment_id == experiment_id)
            )
        )
        assert await _claim_stalled(session, now=now + window * 3, stalled_after=window) == []
    assert statuses == [BatchStatus.COMPLETED]


async def test_a_tick_starts_due_runs_and_hands_them_to_the_executor(runtime: Runtime) -> None:
    experiment_id = await _scheduled(runtime)
    await _set(runtime, experiment_id, next_run_at=datetime.now(UTC) - timedelta(minutes=1))

    result = await Scheduler.of(runtime).tick()

    assert result.started == [experiment_id] and result.recovered == []
    experiment = await _experiment(runtime, experiment_id)
    assert experiment.status == ExperimentStatus.COMPLETED and experiment.runs == 2
    assert all(batch.status == BatchStatus.COMPLETED for batch in experiment.batch_runs)


async def test_resume_reopens_only_the_latest_run(runtime: Runtime) -> None:
    experiment_id = await _scheduled(runtime)  # run 1 completed
    await _set(runtime, experiment_id, next_run_at=datetime.now(UTC) - timedelta(minutes=1))
    await Scheduler.of(runtime).tick()  # run 2 completed
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        first, second = sorted(experiment.batch_runs, key=lambda batch: batch.round)
        for batch in (first, second):  # one failed answer in each run
            await session.execute(
                update(Iteration)
                .where(Iteration.batch_run_id == batch.id, Iteration.index == 0)
                .values(success=False, answer=None, error_code="server_error")
            )
        reopened = await run_service.reopen_unfinished(
            session, experiment_id, now=utcnow(), lease_ttl=runtime.lease_ttl
        )
    assert reopened == 1
    async with transaction(runtime.session_factory) as session:
        statuses = {
            batch.round: (batch.status, batch.heartbeat_at)
            for batch in (await experiment_service.get(session, experiment_id)).batch_runs
        }
        kept = await session.scalar(
            select(Iteration.success).where(
                Iteration.batch_run_id == first.id, Iteration.index == 0
            )
        )
    assert statuses[1][0] == BatchStatus.COMPLETED and kept is False  # history untouched
    assert statuses[2][0] == BatchStatus.RUNNING
    assert statuses[2][1] is not None and statuses[2][1] > datetime.now(UTC) - timedelta(minutes=1)


async def test_concurrent_schedulers_claim_a_stalled_batch_once(runtime: Runtime) -> None:
    experiment_id = await _scheduled(runtime, run_first=False)
    now = datetime.now(UTC)
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(BatchRun)
            .where(BatchRun.experiment_id == experiment_id)
            .values(heartbeat_at=now - timedelta(minutes=20))
        )

    async def claim() -> list[BatchRun]:
        async with transaction(runtime.session_factory) as session:
            return await _claim_stalled(session, now=now, stalled_after=timedelta(minutes=10))

    results = await asyncio.gather(*(claim() for _ in range(4)))
    assert sorted(len(claimed) for claimed in results) == [0, 0, 0, 1]


async def _row_locked(
    runtime: Runtime, table: type[BatchRun] | type[Experiment], row_id: object
) -> bool:
    """Whether another transaction could not write the row now, without waiting: on
    PostgreSQL its row lock is taken, on SQLite the database's write lock."""
    if is_sqlite(runtime.engine):
        path = runtime.engine.url.database
        assert path is not None
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            connection.close()
        return False
    try:
        async with transaction(runtime.session_factory) as session:
            await session.execute(
                select(table.id).where(table.id == row_id).with_for_update(nowait=True)
            )
    except DBAPIError:
        return True
    return False


async def test_the_broker_is_asked_about_stalled_batches_with_no_lock_held(
    runtime: Runtime,
) -> None:
    experiment_id = await _scheduled(runtime, run_first=False)
    now = datetime.now(UTC)
    async with transaction(runtime.session_factory) as session:
        (batch_id,) = await session.scalars(
            select(BatchRun.id).where(BatchRun.experiment_id == experiment_id)
        )
        await session.execute(
            update(BatchRun)
            .where(BatchRun.id == batch_id)
            .values(status=BatchStatus.RUNNING, heartbeat_at=now - timedelta(minutes=20))
        )
    asked: list[tuple[list[uuid.UUID], bool]] = []

    async def waiting(batch_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:  # a slow Redis
        asked.append((list(batch_ids), await _row_locked(runtime, BatchRun, batch_id)))
        return set()

    scheduler = Scheduler.of(runtime)
    scheduler.stalled_after = timedelta(minutes=10)
    scheduler.waiting = waiting
    result = await scheduler.tick(now=now)
    assert asked == [([batch_id], False)]
    assert result.recovered == [batch_id]


async def test_a_resume_asks_the_broker_with_no_lock_held(runtime: Runtime) -> None:
    experiment_id = await _scheduled(runtime)  # completed
    async with transaction(runtime.session_factory) as session:
        (batch_id,) = await session.scalars(
            select(BatchRun.id).where(BatchRun.experiment_id == experiment_id)
        )
        await session.execute(
            update(Iteration)
            .where(Iteration.batch_run_id == batch_id, Iteration.index == 0)
            .values(success=False, answer=None, error_code="server_error")
        )
    asked: list[tuple[list[uuid.UUID], bool]] = []

    async def waiting(batch_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:  # a slow Redis
        asked.append((list(batch_ids), await _row_locked(runtime, Experiment, experiment_id)))
        return set()

    async with transaction(runtime.session_factory) as session:
        reopened = await run_service.reopen_unfinished(
            session, experiment_id, now=utcnow(), lease_ttl=runtime.lease_ttl, waiting=waiting
        )
    assert asked == [([batch_id], False)] and reopened == 1
