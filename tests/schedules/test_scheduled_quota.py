"""A scheduled run that the workspace's plan does not allow (any more) is skipped whole,
never half-run, and the audit log says why."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.config import PlanLimits
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.metering.models import UsageMonth, WorkspaceBudget
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, Experiment
from echo_ai.schedules.scheduler import start_due_runs
from echo_ai.workspaces.models import Membership, Workspace
from tests.factories import experiment_input
from tests.kit import app_runtime
from tests.web.pages import page, sign_up

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


async def _due(runtime: Runtime, experiment_id: uuid.UUID, now: datetime) -> None:
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id == experiment_id)
            .values(next_run_at=now - timedelta(minutes=1))
        )


async def _batches(runtime: Runtime, experiment_id: uuid.UUID) -> int:
    async with transaction(runtime.session_factory) as session:
        return len(
            list(
                await session.scalars(
                    select(BatchRun.id).where(BatchRun.experiment_id == experiment_id)
                )
            )
        )


async def test_a_skipped_run_is_recorded_on_the_experiment_and_shown_everywhere(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    await sign_up(client)
    async with transaction(runtime.session_factory) as session:
        workspace_id = await session.scalar(select(Membership.workspace_id))
        assert workspace_id is not None
        created = await experiment_service.create(
            session,
            experiment_input(iterations=10, schedule={"cron": "0 * * * *"}),
            chunk_size=10,
            workspace_id=workspace_id,
        )
    experiment_id = created.id
    await runtime.executor.run_experiment(experiment_id)
    now = datetime(2030, 5, 17, 8, 30, tzinfo=UTC)  # the scheduler's clock, the test's
    await _due(runtime, experiment_id, now)
    runtime.settings.billing.free = PlanLimits(iterations_per_month=15)
    async with transaction(runtime.session_factory) as session:
        session.add(UsageMonth(workspace_id=workspace_id, month="2030-05", iterations=8))

    async with transaction(runtime.session_factory) as session:
        started = await start_due_runs(session, now=now, settings=runtime.settings)

    assert started == [] and await _batches(runtime, experiment_id) == 1
    detail = (await client.get(f"/v1/experiments/{experiment_id}")).json()
    assert detail["skipped_at"].startswith("2030-05-17T08:30")
    reason = detail["skip_reason"]
    assert "allows 15 iterations per month; 8 are stored this month" in reason
    html = await page(client, f"/experiments/{experiment_id}")
    notice = re.search(r'<div class="alert error" role="alert" id="skip-notice">(.*?)</div>', html)
    assert notice is not None and "was skipped" in notice.group(1)
    assert "allows 15 iterations per month" in notice.group(1)

    # A budget the run's estimated cost does not fit in skips it too (a priced provider:
    # the demo's answers cost nothing).
    runtime.settings.billing.free = PlanLimits()
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id == experiment_id)
            .values(providers=["openai:gpt-4o-mini"])
        )
        session.add(WorkspaceBudget(workspace_id=workspace_id, monthly_usd=Decimal("0.0001")))
    later = now + timedelta(hours=1)
    await _due(runtime, experiment_id, later)
    async with transaction(runtime.session_factory) as session:
        started = await start_due_runs(session, now=later, settings=runtime.settings)
    assert started == [] and await _batches(runtime, experiment_id) == 1
    detail = (await client.get(f"/v1/experiments/{experiment_id}")).json()
    assert detail["skipped_at"].startswith("2030-05-17T09:30")
    assert "the workspace's budget of $0.0001 this month" in detail["skip_reason"]
    async with transaction(runtime.session_factory) as session:
        events = list(
            await session.scalars(
                select(AuditEvent.details).where(AuditEvent.action == "experiment.run_skipped")
            )
        )
    assert [event["reason"] for event in events] == ["quota_exceeded", "budget_exhausted"]

    # Within the plan and the budget again: the run starts and the notice goes.
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Experiment).where(Experiment.id == experiment_id).values(providers=["demo"])
        )
    latest = later + timedelta(hours=1)
    await _due(runtime, experiment_id, latest)
    async with transaction(runtime.session_factory) as session:
        started = await start_due_runs(session, now=latest, settings=runtime.settings)
    assert {batch.round for batch in started} == {2}
    detail = (await client.get(f"/v1/experiments/{experiment_id}")).json()
    assert detail["skipped_at"] is None and detail["skip_reason"] is None
    assert 'id="skip-notice"' not in await page(client, f"/experiments/{experiment_id}")
