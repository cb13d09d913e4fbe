"""Checkout and the Customer Portal over HTTP against the fake Stripe API."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.app import create_app
from echo_ai.billing import stripe_billing
from echo_ai.config import Settings
from echo_ai.testing.fake_stripe import FakeStripeServer, event_body, signature_header
from tests.billing.stripe_kit import PRICES, WEBHOOK, WEBHOOK_SECRET, with_stripe, workspace
from tests.kit import app_runtime, create_team, register_and_login


@pytest.fixture
def app(
    settings: Settings,
    fake_stripe: FakeStripeServer,
    monkeypatch: pytest.MonkeyPatch,
) -> FastAPI:
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    prices = {"team": PRICES["team"]}  # the business plan is not sold here
    return create_app(with_stripe(settings, fake_stripe.base_url, stripe_prices=prices))


def _requests(fake_stripe: FakeStripeServer, method: str, path: str) -> list[dict[str, object]]:
    return [params for m, p, params in fake_stripe.requests if (m, p) == (method, path)]


@pytest.mark.usefixtures("backend")
async def test_an_owner_checks_out_with_one_customer_per_workspace(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    owner = await register_and_login(client, "owner@example.com")
    status = await client.get("/v1/billing", headers=owner)
    assert status.json() == {
        "plan": "free",
        "billing_on": True,
        "subscription_status": None,
        "payment_failed_at": None,
        "grace_until": None,
        "plans_for_sale": ["team"],
    }
    answer = await client.post("/v1/billing/checkout", headers=owner, json={"plan": "team"})
    assert answer.status_code == 200, answer.text
    url = answer.json()["url"]
    assert url.startswith(f"{fake_stripe.base_url}/checkout/cs_test_")

    (customer,) = _requests(fake_stripe, "POST", "/v1/customers")
    assert customer["email"] == "owner@example.com"
    workspace_id = customer["metadata"]["workspace_id"]  # type: ignore[index]
    (checkout,) = _requests(fake_stripe, "POST", "/v1/checkout/sessions")
    assert checkout["mode"] == "subscription"
    assert checkout["line_items"] == [{"price": PRICES["team"], "quantity": "1"}]
    assert checkout["metadata"] == {"workspace_id": workspace_id}
    assert checkout["client_reference_id"] == workspace_id
    assert str(checkout["success_url"]).endswith("/settings/billing?checkout=done")
    stored = await workspace(app_runtime(started_app), workspace_id)
    (made,) = fake_stripe.state.customers
    assert stored.stripe_customer_id == made

    # Again (the first page was abandoned): the same customer.
    again = await client.post("/v1/billing/checkout", headers=owner, json={"plan": "team"})
    assert again.status_code == 200 and again.json()["url"] != url
    assert len(_requests(fake_stripe, "POST", "/v1/customers")) == 1
    assert _requests(fake_stripe, "POST", "/v1/checkout/sessions")[1]["customer"] == made

    portal = await client.post("/v1/billing/portal", headers=owner)
    assert portal.status_code == 200
    assert portal.json()["url"].startswith(f"{fake_stripe.base_url}/portal/bps_")
    (opened,) = _requests(fake_stripe, "POST", "/v1/billing_portal/sessions")
    assert opened["customer"] == made
    assert str(opened["return_url"]).endswith("/settings/billing")


async def test_only_owners_manage_the_subscription(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    team = await create_team(client, ["admin", "member"])
    for role in ("admin", "member"):
        for path, body in (
            ("/v1/billing/checkout", {"plan": "team"}),
            ("/v1/billing/portal", None),
        ):
            answer = await client.post(path, headers=team.as_[role], json=body)
            assert answer.status_code == 403, (role, path)
    assert fake_stripe.requests == []
    # Everyone sees the status.
    seen = await client.get("/v1/billing", headers=team.as_["member"])
    assert seen.status_code == 200 and seen.json()["plan"] == "free"


async def test_refusals_before_stripe_is_called(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    owner = await register_and_login(client, "owner@example.com")
    unsold = await client.post("/v1/billing/checkout", headers=owner, json={"plan": "business"})
    assert unsold.status_code == 400
    assert unsold.json()["error"]["code"] == "plan_not_sold"
    assert "team" in unsold.json()["error"]["message"]
    free = await client.post("/v1/billing/checkout", headers=owner, json={"plan": "free"})
    assert free.status_code == 422
    portal = await client.post("/v1/billing/portal", headers=owner)
    assert portal.status_code == 409
    assert "subscribe" in portal.json()["error"]["message"]
    assert fake_stripe.requests == []


async def test_a_subscribed_workspace_changes_plan_in_the_portal(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    owner = await register_and_login(client, "owner@example.com")
    await client.post("/v1/billing/checkout", headers=owner, json={"plan": "team"})
    (session_id,) = fake_stripe.state.checkout_sessions
    body = event_body("checkout.session.completed", fake_stripe.complete_checkout(session_id))
    signed = {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}
    assert (await client.post(WEBHOOK, content=body, headers=signed)).status_code == 200
    status = (await client.get("/v1/billing", headers=owner)).json()
    assert (status["plan"], status["subscription_status"]) == ("team", "active")
    again = await client.post("/v1/billing/checkout", headers=owner, json={"plan": "team"})
    assert again.status_code == 409
    assert "portal" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("status", "kind", "message"),
    [
        (402, "card_error", "Your card was declined."),
        (500, "api_error", "An unknown error occurred."),
    ],
)
async def test_a_stripe_error_is_a_clear_502(
    started_app: FastAPI,
    client: httpx.AsyncClient,
    fake_stripe: FakeStripeServer,
    status: int,
    kind: str,
    message: str,
) -> None:
    owner = await register_and_login(client, "owner@example.com")
    fake_stripe.fail_with(status, message, kind=kind)
    answer = await client.post("/v1/billing/checkout", headers=owner, json={"plan": "team"})
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "stripe_error"
    assert error["message"] == f"Stripe answered {status}: {message}"
    assert error["details"] == {"stripe_status": status}
    billing = (await client.get("/v1/billing", headers=owner)).json()
    assert billing["subscription_status"] is None


@pytest.mark.usefixtures("backend")
async def test_a_double_click_makes_one_customer(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    """Two checkouts at once: the second waits for the first's lock on the workspace and
    finds its customer, so Stripe is asked for a customer once."""
    owner = await register_and_login(client, "owner@example.com")
    answers = await asyncio.gather(
        *(client.post("/v1/billing/checkout", headers=owner, json={"plan": "team"}) for _ in "ab")
    )
    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    assert len(_requests(fake_stripe, "POST", "/v1/customers")) == 1
    (made,) = fake_stripe.state.customers
    sessions = _requests(fake_stripe, "POST", "/v1/checkout/sessions")
    assert [checkout["customer"] for checkout in sessions] == [made, made]
    workspace_id = fake_stripe.state.customers[made]["metadata"]["workspace_id"]
    stored = await workspace(app_runtime(started_app), workspace_id)
    assert stored.stripe_customer_id == made


async def test_the_customer_create_is_idempotent_per_workspace(
    settings: Settings, fake_stripe: FakeStripeServer
) -> None:
    """A repeated create (e.g. after the checkout's transaction rolled back) gets the
    customer Stripe made the first time; other parameters make another one."""
    billing = with_stripe(settings, fake_stripe.base_url).billing
    workspace_id = uuid.uuid4()
    first = await stripe_billing.create_customer(
        billing, workspace_id=workspace_id, name="Acme", email="owner@example.com"
    )
    again = await stripe_billing.create_customer(
        billing, workspace_id=workspace_id, name="Acme", email="owner@example.com"
    )
    assert again == first
    assert list(fake_stripe.state.customers) == [first]
    assert len(_requests(fake_stripe, "POST", "/v1/customers")) == 2
    other = await stripe_billing.create_customer(
        billing, workspace_id=workspace_id, name="Acme", email="admin@example.com"
    )
    assert other != first
    elsewhere = await stripe_billing.create_customer(
        billing, workspace_id=uuid.uuid4(), name="Acme", email="owner@example.com"
    )
    assert elsewhere not in (first, other)
    assert len(fake_stripe.state.customers) == 3
