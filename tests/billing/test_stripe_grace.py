"""A failed payment: the plan is kept for the grace period, then the daily step moves the
workspace to free; a recovered payment brings the plan back. Time is the test's ``now``."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from echo_ai.billing.plans import PlanName
from echo_ai.billing.stripe_billing import VerifiedEvent
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy.models import AuditEvent
from echo_ai.testing.fake_stripe import FakeStripeServer
from echo_ai.workspaces import subscriptions
from echo_ai.workspaces.models import Workspace
from tests.billing.stripe_kit import PRICES, with_stripe

pytestmark = pytest.mark.usefixtures("backend")

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


async def _subscribed(runtime: Runtime, fake_stripe: FakeStripeServer) -> tuple[uuid.UUID, str]:
    """A team workspace with an active subscription: its id and the subscription's."""
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name="Acme", plan=PlanName.TEAM, stripe_customer_id="cus_acme")
        session.add(workspace)
        await session.flush()
        workspace_id = workspace.id
    subscription = fake_stripe.subscription("cus_acme", PRICES["team"])
    return workspace_id, str(subscription["id"])


def _invoice(event_type: str, subscription_id: str) -> VerifiedEvent:
    return VerifiedEvent(
        id=f"evt_{uuid.uuid4().hex}",
        type=event_type,
        object={"object": "invoice", "customer": "cus_acme", "subscription": subscription_id},
    )


async def _handle(
    runtime: Runtime, event: VerifiedEvent, settings: Settings, now: datetime
) -> None:
    async with transaction(runtime.session_factory) as session:
        assert await subscriptions.handle_event(session, event, settings=settings, now=now)


async def _downgrade(runtime: Runtime, settings: Settings, now: datetime) -> list[uuid.UUID]:
    async with transaction(runtime.session_factory) as session:
        return await subscriptions.downgrade_lapsed(session, now=now, settings=settings)


async def _state(runtime: Runtime, workspace_id: uuid.UUID) -> tuple[str, datetime | None]:
    async with transaction(runtime.session_factory) as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        return str(workspace.plan), workspace.payment_failed_at


async def test_grace_then_downgrade_then_recovery(
    runtime: Runtime, settings: Settings, fake_stripe: FakeStripeServer
) -> None:
    billing = with_stripe(settings, fake_stripe.base_url, grace_days=7)
    workspace_id, sub = await _subscribed(runtime, fake_stripe)
    fake_stripe.set_status(sub, "past_due")
    await _handle(runtime, _invoice("invoice.payment_failed", sub), billing, T0)
    assert await _state(runtime, workspace_id) == ("team", T0)
    async with transaction(runtime.session_factory) as session:
        status = await subscriptions.billing_status(session, workspace_id, settings=billing)
    assert status.grace_until == T0 + timedelta(days=7)

    # Still within the grace period: nothing happens; a later failure keeps the first time.
    assert await _downgrade(runtime, billing, T0 + timedelta(days=6, hours=23)) == []
    await _handle(runtime, _invoice("invoice.payment_failed", sub), billing, T0 + timedelta(days=3))
    assert await _state(runtime, workspace_id) == ("team", T0)

    assert await _downgrade(runtime, billing, T0 + timedelta(days=7)) == [workspace_id]
    assert await _state(runtime, workspace_id) == ("free", T0)
    assert await _downgrade(runtime, billing, T0 + timedelta(days=8)) == []
    async with transaction(runtime.session_factory) as session:
        changes = list(
            await session.execute(
                select(AuditEvent.actor_type, AuditEvent.details).where(
                    AuditEvent.workspace_id == workspace_id,
                    AuditEvent.action == "workspace.plan_changed",
                )
            )
        )
    assert changes == [("scheduler", {"from": "team", "to": "free", "reason": "grace_period_over"})]

    # A late event while still unpaid does not bring the plan back...
    await _handle(runtime, _invoice("invoice.payment_failed", sub), billing, T0 + timedelta(days=9))
    assert await _state(runtime, workspace_id) == ("free", T0)
    # ...the payment does.
    fake_stripe.set_status(sub, "active")
    await _handle(runtime, _invoice("invoice.paid", sub), billing, T0 + timedelta(days=10))
    assert await _state(runtime, workspace_id) == ("team", None)


async def test_an_unpaid_event_after_the_grace_period_downgrades_at_once(
    runtime: Runtime, settings: Settings, fake_stripe: FakeStripeServer
) -> None:
    billing = with_stripe(settings, fake_stripe.base_url, grace_days=0)
    workspace_id, sub = await _subscribed(runtime, fake_stripe)
    fake_stripe.set_status(sub, "unpaid")
    await _handle(runtime, _invoice("invoice.payment_failed", sub), billing, T0)
    assert await _state(runtime, workspace_id) == ("free", T0)


async def test_nothing_is_downgraded_while_billing_is_off(
    runtime: Runtime, settings: Settings, fake_stripe: FakeStripeServer
) -> None:
    billing = with_stripe(settings, fake_stripe.base_url)
    workspace_id, sub = await _subscribed(runtime, fake_stripe)
    fake_stripe.set_status(sub, "past_due")
    await _handle(runtime, _invoice("invoice.payment_failed", sub), billing, T0)
    later = T0 + timedelta(days=30)
    assert await _downgrade(runtime, settings, later) == []  # ``settings``: no Stripe keys
    assert await _state(runtime, workspace_id) == ("team", T0)
    assert await _downgrade(runtime, billing, later) == [workspace_id]


async def test_the_schedulers_daily_step_downgrades_a_lapsed_workspace(
    runtime: Runtime, settings: Settings, fake_stripe: FakeStripeServer
) -> None:
    from echo_ai.schedules.scheduler import Scheduler

    billing = with_stripe(settings, fake_stripe.base_url, grace_days=7)
    workspace_id, _ = await _subscribed(runtime, fake_stripe)
    async with transaction(runtime.session_factory) as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        workspace.payment_failed_at = T0
    scheduler = dataclasses.replace(Scheduler.of(runtime), settings=billing)

    within = await scheduler.tick(now=T0 + timedelta(days=6))
    assert "subscription grace periods" in within.daily
    assert (await _state(runtime, workspace_id))[0] == "team"
    again = await scheduler.tick(now=T0 + timedelta(days=6, hours=1))
    assert again.daily == []  # once per UTC day

    after = await scheduler.tick(now=T0 + timedelta(days=8))
    assert "subscription grace periods" in after.daily
    assert (await _state(runtime, workspace_id))[0] == "free"
