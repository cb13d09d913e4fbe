"""A scheduled run that the workspace's plan does not allow (any more) is skipped whole,
never half-run, and the audit log says why."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from echo_ai.config import PlanLimits
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, Experiment
from echo_ai.schedules.scheduler import start_due_runs
from echo_ai.workspaces.models import Workspace
from tests.factories import experiment_input

pytestmark = pytest.mark.usefixtures("backend")


async def _scheduled_in_a_free_workspace(runtime: Runtime) -> uuid.UUID:
    """A recurring 2 x 10-iteration experiment of a free workspace, its first run done."""
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name="Acme", personal=False)
        session.add(workspace)
        await session.flush()
        created = await experiment_service.create(
            session,
            experiment_input(
                providers=["demo", "demo:other"], iterations=10, schedule={"cron": "0 * * * *"}
            ),
            chunk_size=10,
            workspace_id=workspace.id,
        )
    await runtime.executor.run_experiment(created.id)
    return created.id


async def test_a_scheduled_run_over_the_plans_limit_is_skipped_and_audited(
    runtime: Runtime,
) -> None:
    experiment_id = await _scheduled_in_a_free_workspace(runtime)
    now = datetime.now(UTC)
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id == experiment_id)
            .values(next_run_at=now - timedelta(minutes=1))
        )
    runtime.settings.billing.free = PlanLimits(max_iterations_per_experiment=15)

    async with transaction(runtime.session_factory) as session:
        started = await start_due_runs(session, now=now, settings=runtime.settings)

    assert started == []
    async with transaction(runtime.session_factory) as session:
        experiment = await session.get(Experiment, experiment_id)
        rounds = set(
            await session.scalars(
                select(BatchRun.round).where(BatchRun.experiment_id == experiment_id)
            )
        )
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "experiment.run_skipped")
            )
        )
    assert experiment is not None and experiment.runs == 1 and rounds == {1}
    assert experiment.next_run_at is not None and experiment.next_run_at > now  # tried later
    (event,) = events
    assert event.actor_type == "scheduler" and event.target_id == str(experiment_id)
    assert event.details == {
        "run": 2,
        "reason": "quota_exceeded",
        "limit": "max_iterations_per_experiment",
        "plan": "free",
        "limit_value": 15,
        "usage": 20,
        "requested": 20,
    }

    # Within the limit again, the next due time starts the run.
    runtime.settings.billing.free = PlanLimits()
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id == experiment_id)
            .values(next_run_at=now - timedelta(minutes=1))
        )
        started = await start_due_runs(session, now=now, settings=runtime.settings)
    assert {batch.round for batch in started} == {2}
