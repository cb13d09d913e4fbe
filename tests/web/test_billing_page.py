"""Settings › Billing without a browser: billing off, an owner sent to Stripe, Stripe's
errors shown on the page, what other roles see and may do."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.app import create_app
from echo_ai.billing.stripe_billing import BILLING_OFF
from echo_ai.config import BillingSettings, Settings
from echo_ai.testing.fake_stripe import FakeStripeServer
from echo_ai.workspaces.models import Role
from tests.web.pages import page, post_form, sign_up, text_of
from tests.web.workspace_pages import add_member, personal_workspace, second_client, switch_to


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as server:
        yield server


@pytest.fixture
def app(
    settings: Settings,
    stripe_api: FakeStripeServer,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> FastAPI:
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    stripe_api.reset()
    if "billing_off" in request.node.name:
        return create_app(settings)
    billing = BillingSettings(
        stripe_secret_key="sk_test_pages",
        stripe_webhook_secret="whsec_pages",
        stripe_api_base=stripe_api.base_url,
        stripe_prices={"team": "price_team_pages"},
    )
    return create_app(settings.model_copy(update={"billing": billing}))


async def test_billing_off_explains_how_plans_are_set(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    html = await page(client, "/settings/billing")
    assert "Billing is off" in text_of(html) and "echo-ai workspace-plan" in html
    assert 'action="/settings/billing/checkout"' not in html
    refused = await post_form(
        client, "/settings/billing/checkout", {"plan": "team"}, token_from="/settings/billing"
    )
    assert refused.status_code == 404
    assert BILLING_OFF.replace("`", "") in text_of(refused.text).replace("`", "")


async def test_an_owner_is_sent_to_checkout_and_sees_stripe_errors(
    client: httpx.AsyncClient, stripe_api: FakeStripeServer
) -> None:
    await sign_up(client)
    response = await client.get("/settings/billing", headers={"Accept": "text/html"})
    csp = response.headers["content-security-policy"]
    stripe_pages = "https://checkout.stripe.com https://billing.stripe.com"
    assert f"form-action 'self' {stripe_pages} {stripe_api.base_url}" in csp
    assert "Upgrade to team" in response.text and "Manage billing" not in response.text

    sent = await post_form(
        client, "/settings/billing/checkout", {"plan": "team"}, token_from="/settings/billing"
    )
    assert sent.status_code == 303
    assert sent.headers["location"].startswith(f"{stripe_api.base_url}/checkout/cs_test_")
    html = await page(client, "/settings/billing")
    assert "Manage billing" in html  # the customer exists now

    stripe_api.fail_with(500, "An unknown error occurred.")
    failed = await post_form(client, "/settings/billing/portal", token_from="/settings/billing")
    assert failed.status_code == 502
    assert "Stripe answered 500: An unknown error occurred." in text_of(failed.text)
    assert "Plan: free" in text_of(failed.text)


async def test_only_owners_see_and_use_the_buttons(
    app: FastAPI, client: httpx.AsyncClient, stripe_api: FakeStripeServer
) -> None:
    await sign_up(client)
    workspace_id = str(await personal_workspace(app, "ada@example.com"))
    admin = second_client(app)
    await sign_up(admin, "bob@example.com")
    await add_member(app, workspace_id, "bob@example.com", Role.ADMIN)
    await switch_to(admin, workspace_id)
    html = await page(admin, "/settings/billing")
    assert "Only the workspace's owners manage its subscription." in text_of(html)
    assert "Upgrade to" not in html
    refused = await post_form(
        admin, "/settings/billing/checkout", {"plan": "team"}, token_from="/settings/billing"
    )
    assert refused.status_code == 403
    assert stripe_api.requests == []
    await admin.aclose()


def test_prices_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_AI_BILLING__STRIPE_PRICES", json.dumps({"team": "price_x"}))
    assert Settings().billing.stripe_prices == {"team": "price_x"}
