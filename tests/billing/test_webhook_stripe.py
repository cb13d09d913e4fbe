"""Stripe's webhook over HTTP, against the fake Stripe API: signatures checked before
anything is stored, each event processed once (on SQLite and PostgreSQL), the plan
following the subscription's current state whatever the order of the events."""

from __future__ import annotations

import logging
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.app import create_app
from echo_ai.billing.models import ExternalEvent
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.privacy.models import AuditEvent
from echo_ai.testing.fake_stripe import FakeStripeServer, event_body, signature_header
from tests.billing.stripe_kit import (
    PRICES,
    WEBHOOK,
    WEBHOOK_SECRET,
    audit_actions,
    deliver,
    event_count,
    with_stripe,
    workspace,
)
from tests.kit import app_runtime, register_and_login

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def app(
    settings: Settings, fake_stripe: FakeStripeServer, monkeypatch: pytest.MonkeyPatch
) -> FastAPI:
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return create_app(with_stripe(settings, fake_stripe.base_url))


async def _customer_workspace(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> tuple[str, str]:
    """A signed-up owner who went through checkout: their workspace id and the Stripe
    customer made for it."""
    owner = await register_and_login(client, "owner@example.com")
    answer = await client.post("/v1/billing/checkout", headers=owner, json={"plan": "team"})
    assert answer.status_code == 200, answer.text
    billing = await client.get("/v1/billing", headers=owner)
    assert billing.json()["plan"] == "free"
    (customer,) = fake_stripe.state.customers.values()
    return customer["metadata"]["workspace_id"], customer["id"]


def _subscription_object(
    fake_stripe: FakeStripeServer, sub_id: str, **changes: object
) -> dict[str, object]:
    """The subscription as an event carries it (a snapshot that may be stale)."""
    return {**fake_stripe.state.subscriptions[sub_id], **changes}


async def test_a_wrong_signature_is_refused_and_nothing_is_stored(
    started_app: FastAPI, client: httpx.AsyncClient
) -> None:
    runtime = app_runtime(started_app)
    body = event_body("customer.subscription.updated", {"object": "subscription", "id": "sub_1"})
    wrong = signature_header(body, "whsec_someone_else")
    answer = await client.post(WEBHOOK, content=body, headers={"Stripe-Signature": wrong})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "bad_signature"
    assert "signature" in answer.json()["error"]["message"]
    # A body changed after signing is refused the same way.
    signed = signature_header(body, WEBHOOK_SECRET)
    tampered = body.replace(b"sub_1", b"sub_2")
    answer = await client.post(WEBHOOK, content=tampered, headers={"Stripe-Signature": signed})
    assert answer.status_code == 400
    assert await event_count(runtime) == 0


async def test_an_old_timestamp_and_a_missing_header_are_refused(
    started_app: FastAPI, client: httpx.AsyncClient
) -> None:
    runtime = app_runtime(started_app)
    stale = await deliver(
        client, "invoice.paid", {"object": "invoice"}, timestamp=int(time.time()) - 301
    )
    assert stale.status_code == 400
    assert "tolerance" in stale.json()["error"]["message"].lower()
    body = event_body("invoice.paid", {"object": "invoice"})
    missing = await client.post(WEBHOOK, content=body)
    assert missing.status_code == 400
    assert "Stripe-Signature" in missing.json()["error"]["message"]
    assert "without_verification" not in missing.json()["error"]["message"]  # no SDK advice
    garbage = await client.post(WEBHOOK, content=body, headers={"Stripe-Signature": "t=x,v1"})
    assert garbage.status_code == 400
    not_json = b"not json"
    signed = signature_header(not_json, WEBHOOK_SECRET)
    refused = await client.post(WEBHOOK, content=not_json, headers={"Stripe-Signature": signed})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "bad_event"
    assert await event_count(runtime) == 0


async def test_checkout_completed_upgrades_the_plan_as_stripe(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    runtime = app_runtime(started_app)
    workspace_id, customer = await _customer_workspace(started_app, client, fake_stripe)
    (session_id,) = fake_stripe.state.checkout_sessions
    completed = fake_stripe.complete_checkout(session_id)
    answer = await deliver(client, "checkout.session.completed", completed)
    assert answer.status_code == 200 and answer.json() == {"processed": True}
    found = await workspace(runtime, workspace_id)
    assert found.plan == "team"
    assert found.stripe_customer_id == customer
    assert found.stripe_subscription_id == completed["subscription"]
    assert found.subscription_status == "active"
    actions = await audit_actions(runtime, workspace_id)
    assert ("workspace.plan_changed", "stripe") in actions
    assert ("billing.subscription_synced", "stripe") in actions
    # The subscription was read back from Stripe, not taken from the event.
    assert ("GET", f"/v1/subscriptions/{completed['subscription']}") in [
        (method, path) for method, path, _ in fake_stripe.requests
    ]


async def test_a_replayed_or_redelivered_event_is_processed_once(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    runtime = app_runtime(started_app)
    workspace_id, customer = await _customer_workspace(started_app, client, fake_stripe)
    subscription = fake_stripe.subscription(customer, PRICES["team"])
    body = event_body("customer.subscription.created", subscription)
    headers = {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}
    first = await client.post(WEBHOOK, content=body, headers=headers)
    assert first.json() == {"processed": True}
    assert (await workspace(runtime, workspace_id)).plan == "team"
    reads = len(fake_stripe.requests)

    # The same signed request again (a replay), then Stripe's own retry of the event (same
    # id, signed anew).
    replay = await client.post(WEBHOOK, content=body, headers=headers)
    assert replay.status_code == 200 and replay.json() == {"processed": False}
    event_id = uuid.uuid4().hex
    fake_stripe.set_status(subscription["id"], "canceled")
    delivered = await deliver(
        client, "customer.subscription.updated", subscription, event_id=event_id
    )
    again = await deliver(client, "customer.subscription.updated", subscription, event_id=event_id)
    assert delivered.json() == {"processed": True} and again.json() == {"processed": False}
    assert await event_count(runtime) == 2
    # The repeats did not read Stripe again, nor audit anything twice.
    assert len(fake_stripe.requests) == reads + 1
    plan_changes = [
        a for a in await audit_actions(runtime, workspace_id) if a[0] == "workspace.plan_changed"
    ]
    assert len(plan_changes) == 2  # free -> team, team -> free
    assert (await workspace(runtime, workspace_id)).plan == "free"


async def test_events_out_of_order_follow_the_subscription_in_stripe(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    runtime = app_runtime(started_app)
    workspace_id, customer = await _customer_workspace(started_app, client, fake_stripe)
    subscription = fake_stripe.subscription(customer, PRICES["business"])
    created = _subscription_object(fake_stripe, subscription["id"])
    updated = _subscription_object(fake_stripe, subscription["id"], status="active")
    fake_stripe.set_status(subscription["id"], "canceled")
    deleted = _subscription_object(fake_stripe, subscription["id"])

    # Stripe sent created, updated, deleted; they arrive deleted, updated, created.
    for event_type, obj in (
        ("customer.subscription.deleted", deleted),
        ("customer.subscription.updated", updated),
        ("customer.subscription.created", created),
    ):
        answer = await deliver(client, event_type, obj)
        assert answer.json() == {"processed": True}
        found = await workspace(runtime, workspace_id)
        assert (found.plan, found.subscription_status) == ("free", "canceled"), event_type

    # A new subscription later: a stale event of the old one cannot undo it.
    renewed = fake_stripe.subscription(customer, PRICES["team"])
    await deliver(client, "customer.subscription.created", renewed)
    await deliver(client, "customer.subscription.deleted", deleted)
    found = await workspace(runtime, workspace_id)
    assert (found.plan, found.stripe_subscription_id) == ("team", renewed["id"])


async def test_a_failed_payment_keeps_the_plan_until_recovered(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    runtime = app_runtime(started_app)
    workspace_id, customer = await _customer_workspace(started_app, client, fake_stripe)
    subscription = fake_stripe.subscription(customer, PRICES["team"])
    await deliver(client, "customer.subscription.created", subscription)
    invoice = {
        "object": "invoice",
        "id": "in_1",
        "customer": customer,
        "parent": {"subscription_details": {"subscription": subscription["id"]}},
    }
    fake_stripe.set_status(subscription["id"], "past_due")
    await deliver(client, "invoice.payment_failed", invoice)
    failed = await workspace(runtime, workspace_id)
    assert (failed.plan, failed.subscription_status) == ("team", "past_due")
    assert failed.payment_failed_at is not None
    # A second failure keeps the first failure's time (the grace period does not restart).
    await deliver(client, "invoice.payment_failed", {**invoice, "id": "in_2"})
    assert (await workspace(runtime, workspace_id)).payment_failed_at == failed.payment_failed_at

    fake_stripe.set_status(subscription["id"], "active")
    await deliver(client, "invoice.paid", {**invoice, "id": "in_3"})
    recovered = await workspace(runtime, workspace_id)
    assert (recovered.plan, recovered.subscription_status) == ("team", "active")
    assert recovered.payment_failed_at is None
    actions = [a for a, _ in await audit_actions(runtime, workspace_id)]
    assert actions.count("billing.payment_failed") == 1
    assert actions.count("billing.payment_recovered") == 1


async def test_stripe_failing_answers_502_and_the_event_can_be_delivered_again(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    runtime = app_runtime(started_app)
    workspace_id, customer = await _customer_workspace(started_app, client, fake_stripe)
    subscription = fake_stripe.subscription(customer, PRICES["team"])
    before = await event_count(runtime)
    fake_stripe.fail_with(402, "Your card was declined.", kind="card_error", code="card_declined")
    body = event_body("customer.subscription.created", subscription)
    headers = {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}
    failed = await client.post(WEBHOOK, content=body, headers=headers)
    assert failed.status_code == 502
    error = failed.json()["error"]
    assert error["code"] == "stripe_error"
    assert "402" in error["message"] and "declined" in error["message"]
    assert error["details"] == {"stripe_status": 402}
    assert await event_count(runtime) == before  # rolled back: Stripe's retry is not a repeat
    fake_stripe.state.failure = None
    retried = await client.post(WEBHOOK, content=body, headers=headers)
    assert retried.json() == {"processed": True}
    assert (await workspace(runtime, workspace_id)).plan == "team"


async def test_events_of_unknown_customers_are_recorded_and_change_nothing(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    runtime = app_runtime(started_app)
    answer = await deliver(
        client,
        "customer.subscription.updated",
        {"object": "subscription", "id": "sub_elsewhere", "customer": "cus_elsewhere"},
    )
    assert answer.json() == {"processed": True}
    assert await event_count(runtime) == 1
    assert fake_stripe.requests == []


async def test_an_event_naming_a_workspace_with_another_customer_is_not_applied_silently(
    started_app: FastAPI,
    client: httpx.AsyncClient,
    fake_stripe: FakeStripeServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = app_runtime(started_app)
    workspace_id, customer = await _customer_workspace(started_app, client, fake_stripe)
    subscription = fake_stripe.subscription(
        "cus_second", PRICES["team"], metadata={"workspace_id": workspace_id}
    )
    with caplog.at_level(logging.WARNING, logger="echo_ai.workspaces.subscriptions"):
        answer = await deliver(
            client,
            "checkout.session.completed",
            {
                "object": "checkout.session",
                "id": "cs_test_second",
                "customer": "cus_second",
                "subscription": subscription["id"],
                "client_reference_id": workspace_id,
                "metadata": {"workspace_id": workspace_id},
            },
            event_id="evt_second_customer",
        )
    assert answer.json() == {"processed": True}
    found = await workspace(runtime, workspace_id)
    assert found.plan == "free" and found.stripe_customer_id == customer
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("cus_second" in message and customer in message for message in warned), warned
    async with transaction(runtime.session_factory) as session:
        recorded = await session.scalar(
            select(ExternalEvent).where(ExternalEvent.event_id == "evt_second_customer")
        )
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "billing.event_unmatched")
        )
    assert recorded is not None and str(recorded.workspace_id) == workspace_id
    assert audited is not None and str(audited.workspace_id) == workspace_id
    assert audited.details == {
        "event": "evt_second_customer",
        "event_type": "checkout.session.completed",
        "event_customer": "cus_second",
        "workspace_customer": customer,
    }
    # A redelivery is not audited again.
    await deliver(client, "checkout.session.completed", {}, event_id="evt_second_customer")
    assert (await audit_actions(runtime, workspace_id)).count(
        ("billing.event_unmatched", "stripe")
    ) == 1
