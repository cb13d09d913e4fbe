"""Concurrent deliveries on PostgreSQL: of one event, the second insert waits for the
first transaction and then does nothing, so the event is processed once; of two events
about one workspace, the second waits for the workspace's lock before it reads the
subscription from Stripe."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from echo_ai.billing.plans import PlanName
from echo_ai.billing.stripe_billing import VerifiedEvent, record_event
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.testing.fake_stripe import FakeStripeServer
from echo_ai.workspaces.models import Workspace
from echo_ai.workspaces.subscriptions import handle_event
from tests.billing.stripe_kit import PRICES, with_stripe
from tests.kit import wait_until


async def test_a_concurrent_delivery_waits_and_is_not_processed(
    backend: str, runtime: Runtime
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs one writer at a time: there is no concurrent insert")
    event = VerifiedEvent(id="evt_concurrent", type="invoice.paid", object={})
    async with runtime.session_factory() as first, runtime.session_factory() as second:
        await first.begin()
        assert await record_event(first, event, workspace_id=None, now=utcnow())
        pid = await second.scalar(text("SELECT pg_backend_pid()"))
        racing = asyncio.create_task(record_event(second, event, workspace_id=None, now=utcnow()))

        async def waiting_on_a_lock() -> bool:
            async with runtime.session_factory() as watcher:
                state = await watcher.scalar(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                )
            return state == "Lock"

        await wait_until(waiting_on_a_lock)
        assert not racing.done()
        await first.commit()
        assert await racing is False
        await second.commit()
    assert not await _record_again(runtime, event)


async def _record_again(runtime: Runtime, event: VerifiedEvent) -> bool:
    async with runtime.session_factory() as session, session.begin():
        return await record_event(session, event, workspace_id=None, now=utcnow())


async def test_two_events_about_one_workspace_read_the_subscription_in_turn(
    backend: str, runtime: Runtime, fake_stripe: FakeStripeServer
) -> None:
    """``invoice.payment_failed`` is being applied when ``invoice.paid`` arrives: the
    second waits for the workspace's lock *before* reading the subscription, so it reads
    what Stripe says after the first committed, and the workspace ends up paid."""
    if backend != "postgresql":
        pytest.skip("SQLite runs one writer at a time: there is no concurrent delivery")
    settings = with_stripe(runtime.settings, fake_stripe.base_url)
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(
            name="Acme", personal=False, plan=PlanName.TEAM, stripe_customer_id="cus_acme"
        )
        session.add(workspace)
    subscription = fake_stripe.subscription("cus_acme", PRICES["team"], status="past_due")
    invoice = {"object": "invoice", "customer": "cus_acme", "subscription": subscription["id"]}
    failed = VerifiedEvent(id="evt_failed", type="invoice.payment_failed", object=invoice)
    paid = VerifiedEvent(id="evt_paid", type="invoice.paid", object=invoice)
    reads = f"/v1/subscriptions/{subscription['id']}"

    def subscription_reads() -> int:
        return sum(
            1 for method, path, _ in fake_stripe.requests if (method, path) == ("GET", reads)
        )

    now = utcnow()
    async with runtime.session_factory() as first, runtime.session_factory() as second:
        await first.begin()
        await handle_event(first, failed, settings=settings, now=now)
        assert subscription_reads() == 1
        fake_stripe.set_status(subscription["id"], "active")  # the retry was paid
        pid = await second.scalar(text("SELECT pg_backend_pid()"))
        racing = asyncio.create_task(handle_event(second, paid, settings=settings, now=now))

        async def waiting_on_a_lock() -> bool:
            async with runtime.session_factory() as watcher:
                state = await watcher.scalar(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                )
            return state == "Lock"

        await wait_until(waiting_on_a_lock)
        assert not racing.done()
        assert subscription_reads() == 1  # not read before the lock
        await first.commit()
        assert await racing is True
        await second.commit()
    assert subscription_reads() == 2
    async with transaction(runtime.session_factory) as session:
        stored = await session.get(Workspace, workspace.id)
    assert stored is not None
    assert stored.subscription_status == "active"
    assert stored.payment_failed_at is None
    assert stored.plan == PlanName.TEAM
