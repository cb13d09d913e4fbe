"""Settings › Billing in a browser, against the fake Stripe API: an owner upgrades through
Stripe Checkout, the webhook moves the plan, "Manage billing" opens the Customer Portal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from echo_ai.testing.fake_stripe import FakeStripeServer, event_body, signature_header
from tests.live import ServeProcess, serve_env
from tests.web.browser import checkpoint, chromium_missing, create_account

WEBHOOK_SECRET = "whsec_browser_test"
PRICE = "price_team_browser"


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as server:
        yield server


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, stripe_api: FakeStripeServer
) -> Iterator[ServeProcess]:
    """``echo-ai serve`` with Stripe billing on, its API the fake server."""
    if chromium_missing():
        pytest.skip(str(chromium_missing()))
    root = tmp_path_factory.mktemp("served-billing")
    env = serve_env(root / "data")
    env.update(
        {
            "ECHO_AI_BILLING__STRIPE_SECRET_KEY": "sk_test_browser",
            "ECHO_AI_BILLING__STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ECHO_AI_BILLING__STRIPE_API_BASE": stripe_api.base_url,
            "ECHO_AI_BILLING__STRIPE_PRICES": json.dumps({"team": PRICE}),
        }
    )
    server = ServeProcess(env, cwd=root)
    try:
        yield server
    finally:
        server.stop()


def test_an_owner_upgrades_and_manages_billing(
    page: Page, served: ServeProcess, stripe_api: FakeStripeServer
) -> None:
    create_account(page, "payer@example.com")

    page.goto("/settings/members")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Billing").click()
    expect(page.get_by_role("heading", name="Plan: free")).to_be_visible()
    expect(page.get_by_role("button", name="Manage billing")).to_have_count(0)
    checkpoint(page)

    page.get_by_role("button", name="Upgrade to team").click()
    expect(page.get_by_role("heading", name="Fake Stripe Checkout")).to_be_visible()
    assert page.url.startswith(f"{stripe_api.base_url}/checkout/cs_test_")

    # Stripe takes the payment and tells us.
    (session_id,) = [
        s for s, c in stripe_api.state.checkout_sessions.items() if c["status"] == "open"
    ]
    body = event_body("checkout.session.completed", stripe_api.complete_checkout(session_id))
    delivered = httpx.post(
        f"{served.url}/billing/stripe/webhook",
        content=body,
        headers={"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)},
    )
    assert delivered.status_code == 200, delivered.text

    page.goto("/settings/billing?checkout=done")
    expect(page.get_by_role("status")).to_contain_text("Thank you")
    expect(page.get_by_role("heading", name="Plan: team")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("active")
    expect(page.get_by_role("button", name=re.compile("Upgrade"))).to_have_count(0)
    checkpoint(page)

    page.get_by_role("button", name="Manage billing").click()
    expect(page.get_by_role("heading", name="Fake Stripe Customer Portal")).to_be_visible()
    assert page.url.startswith(f"{stripe_api.base_url}/portal/bps_")
