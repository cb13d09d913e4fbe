"""Without Stripe keys billing is off: the billing routes say so, the webhook is not
there, and Stripe is never called."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from echo_ai.billing.stripe_billing import BILLING_OFF
from echo_ai.testing.fake_stripe import FakeStripeServer, event_body, signature_header
from tests.billing.stripe_kit import WEBHOOK, WEBHOOK_SECRET
from tests.kit import register_and_login


async def test_without_stripe_keys_billing_is_off(
    started_app: FastAPI, client: httpx.AsyncClient, fake_stripe: FakeStripeServer
) -> None:
    owner = await register_and_login(client, "owner@example.com")
    status = await client.get("/v1/billing", headers=owner)
    assert status.json()["billing_on"] is False and status.json()["plans_for_sale"] == []
    for path, body in (("/v1/billing/checkout", {"plan": "team"}), ("/v1/billing/portal", None)):
        answer = await client.post(path, headers=owner, json=body)
        assert answer.status_code == 404
        assert answer.json()["error"] == {
            "code": "billing_off",
            "message": BILLING_OFF,
            "details": None,
        }
    body = event_body("invoice.paid", {"object": "invoice"})
    signed = {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}
    webhook = await client.post(WEBHOOK, content=body, headers=signed)
    assert webhook.status_code == 404
    assert fake_stripe.requests == []
