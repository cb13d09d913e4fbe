"""Retention and erasure of the alerts' data: finished deliveries with their logs after
``privacy.alert_delivery_retention_days`` (pending ones stay), alerts and evaluation
records after ``privacy.alert_retention_days``, in the daily pass of the scheduler and of
``echo-ai retention run``, dry runs counting the same; a deleted workspace takes them; an
erased account's address leaves the rules and its e-mail deliveries go."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from echo_ai.accounts import retention
from echo_ai.alerts.erasure import forget_address
from echo_ai.alerts.jobs import ALERT_DAILY_TASKS
from echo_ai.alerts.models import (
    Alert,
    AlertDelivery,
    AlertEvaluation,
    AlertRule,
    Channel,
    DeliveryAttempt,
    DeliveryStatus,
)
from echo_ai.alerts.retention import ALERT_ROWS
from echo_ai.db import Base, transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.runs.models import Experiment, ExperimentStatus
from echo_ai.schedules.scheduler import Scheduler
from echo_ai.workspaces.models import Workspace
from tests.factories import brand_set

pytestmark = pytest.mark.usefixtures("backend")

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def _seeded(runtime: Runtime) -> uuid.UUID:
    """A workspace whose rule fired at T0 (run 2) and at T0 + 200 days (run 3); each alert
    with a webhook delivery sent an hour later (two tries logged) and an e-mail; the
    newer one's webhook still pending. The workspace's id."""
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name="Acme")
        session.add(workspace)
        await session.flush()
        experiment = Experiment(
            workspace_id=workspace.id,
            name="CRM",
            prompt="Best CRM?",
            brands=brand_set().model_dump(mode="json"),
            providers=["demo"],
            iterations=10,
            status=ExperimentStatus.COMPLETED,
            created_at=T0,
        )
        rule = AlertRule(
            workspace_id=workspace.id,
            name="Visibility",
            metrics=["visibility"],
            email_to=["team@example.com"],
            webhook_url="https://hooks.example.com/echo",
        )
        session.add_all([experiment, rule])
        await session.flush()
        for round_, at, pending in ((2, T0, False), (3, T0 + 200 * DAY, True)):
            session.add(AlertEvaluation(experiment_id=experiment.id, round=round_, evaluated_at=at))
            alert = Alert(
                workspace_id=workspace.id,
                rule_id=rule.id,
                experiment_id=experiment.id,
                round=round_,
                compared_with=[round_ - 1],
                changes=[],
                tested=1,
                created_at=at,
            )
            session.add(alert)
            await session.flush()
            webhook = AlertDelivery(
                alert_id=alert.id,
                channel=Channel.WEBHOOK,
                target="https://hooks.example.com/echo",
                status=DeliveryStatus.PENDING if pending else DeliveryStatus.SENT,
                attempts=2,
                created_at=at,
                finished_at=None if pending else at + timedelta(hours=1),
                last_error="HTTP 500 Internal Server Error",
            )
            mailed = AlertDelivery(
                alert_id=alert.id,
                channel=Channel.EMAIL,
                target="team@example.com",
                status=DeliveryStatus.MAILED,
                attempts=1,
                created_at=at,
                finished_at=at,
            )
            session.add_all([webhook, mailed])
            await session.flush()
            for attempt in (1, 2):
                session.add(
                    DeliveryAttempt(
                        delivery_id=webhook.id,
                        attempt=attempt,
                        at=at,
                        status_code=500 if attempt == 1 else 200,
                        error="HTTP 500 Internal Server Error" if attempt == 1 else None,
                    )
                )
        return workspace.id


async def _counts(runtime: Runtime) -> dict[str, int]:
    async with transaction(runtime.session_factory) as session:
        return {
            model.__tablename__: int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (Alert, AlertDelivery, DeliveryAttempt, AlertEvaluation, AlertRule)
        }


async def _pass(runtime: Runtime, now: datetime, *, dry_run: bool = False) -> dict[str, int]:
    report = await retention.apply(
        runtime.session_factory,
        now=now,
        settings=runtime.settings,
        dry_run=dry_run,
        expiring=ALERT_ROWS,
    )
    counts = report.counts()
    return {name: counts[name] for name in ("alert_deliveries_deleted", "alerts_deleted")} | {
        "alert_evaluations_deleted": counts["alert_evaluations_deleted"],
        "transactions": report.transactions,
    }


async def test_deliveries_then_alerts_go_after_their_retention(runtime: Runtime) -> None:
    assert runtime.settings.privacy.alert_delivery_retention_days == 90  # the defaults
    assert runtime.settings.privacy.alert_retention_days == 365
    await _seeded(runtime)
    before = await _counts(runtime)
    assert before == {
        "alerts": 2,
        "alert_deliveries": 4,
        "alert_delivery_attempts": 4,
        "alert_evaluations": 2,
        "alert_rules": 1,
    }

    # 80 days on: nothing is old enough.
    assert (await _pass(runtime, T0 + 80 * DAY))["transactions"] == 0
    # 100 days on: the first alert's finished deliveries (and the webhook's log) go.
    dry = await _pass(runtime, T0 + 100 * DAY, dry_run=True)
    assert await _counts(runtime) == before  # a dry run changes nothing
    done = await _pass(runtime, T0 + 100 * DAY)
    assert (
        done
        == dry
        == {
            "alert_deliveries_deleted": 2,
            "alerts_deleted": 0,
            "alert_evaluations_deleted": 0,
            "transactions": 1,
        }
    )
    assert await _counts(runtime) == before | {
        "alert_deliveries": 2,
        "alert_delivery_attempts": 2,
    }
    # 300 days on: the second alert's e-mail delivery goes; its pending webhook stays.
    assert (await _pass(runtime, T0 + 300 * DAY))["alert_deliveries_deleted"] == 1
    # 400 days on: the first alert and its evaluation go; the rule stays.
    later = await _pass(runtime, T0 + 400 * DAY)
    assert later["alerts_deleted"] == 1 and later["alert_evaluations_deleted"] == 1
    assert await _counts(runtime) == {
        "alerts": 1,
        "alert_deliveries": 1,
        "alert_delivery_attempts": 2,
        "alert_evaluations": 1,
        "alert_rules": 1,
    }
    assert (await _pass(runtime, T0 + 400 * DAY))["transactions"] == 0  # nothing more


async def test_the_scheduler_of_serve_and_beat_applies_it_daily(runtime: Runtime) -> None:
    await _seeded(runtime)
    scheduler = Scheduler.of(runtime, daily_tasks=ALERT_DAILY_TASKS)
    result = await scheduler.tick(now=T0 + 400 * DAY)
    assert "retention" in result.daily
    assert (await _counts(runtime))["alerts"] == 1


async def test_a_deleted_workspace_takes_its_alerts_with_it(runtime: Runtime) -> None:
    workspace_id = await _seeded(runtime)
    async with transaction(runtime.session_factory) as session:
        # As the erasure of its last owner's account deletes it (SQL, the database
        # cascading): experiments first, then the workspace.
        await session.execute(delete(Experiment).where(Experiment.workspace_id == workspace_id))
        await session.execute(delete(Workspace).where(Workspace.id == workspace_id))
    assert set((await _counts(runtime)).values()) == {0}
    alert_tables = [t for t in Base.metadata.sorted_tables if t.name.startswith("alert")]
    assert len(alert_tables) == 5  # every table of the alerts is counted above


async def test_an_erased_address_leaves_the_rules_and_its_deliveries_go(
    runtime: Runtime,
) -> None:
    await _seeded(runtime)
    async with transaction(runtime.session_factory) as session:
        rule = await session.scalar(select(AlertRule))
        assert rule is not None
        rule.email_to = ["Team@Example.com", "cto@example.com"]
    async with transaction(runtime.session_factory) as session:
        await forget_address(session, "team@example.com")
    async with transaction(runtime.session_factory) as session:
        assert list(await session.scalars(select(AlertRule.email_to))) == [["cto@example.com"]]
        targets = list(await session.scalars(select(AlertDelivery.target)))
    assert targets == ["https://hooks.example.com/echo"] * 2  # the webhooks' stay
    assert (await _counts(runtime))["alerts"] == 2
