"""Stripe at the edge: the SDK client, webhook verification, the calls we make and the
record of events already processed (docs/billing.md).

Only the Stripe wire lives here: what a workspace's plan becomes is decided by the use
cases in :mod:`echo_ai.workspaces.subscriptions`. Every SDK failure becomes a
:class:`StripeUnavailable` (502) with Stripe's own message, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing.models import ExternalEvent
from echo_ai.billing.plans import PlanName
from echo_ai.config import BillingSettings
from echo_ai.errors import AppError, NotFound

SOURCE = "stripe"

BILLING_OFF = "billing is off: an operator sets plans with `echo-ai workspace-plan`"

NETWORK_RETRIES = 1
"""The SDK's own retries of a failed call (it retries only what Stripe says is safe, with
an idempotency key); kept low so a request to us never waits long on Stripe."""

TIMEOUT_SECONDS = 20.0

LIVE_STATUSES = frozenset({"active", "trialing"})
"""Subscription statuses that give the workspace its plan."""
UNPAID_STATUSES = frozenset({"past_due", "unpaid"})
"""A payment failed: the plan is kept for the grace period, then the workspace is on free."""
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "checkout.session.completed",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
"""The events that make us read a subscription's current state; others are acknowledged
and recorded, and change nothing."""


class BillingOff(NotFound):
    """Stripe keys are not configured: plans are set by an operator."""

    code = "billing_off"

    def __init__(self) -> None:
        super().__init__(BILLING_OFF)


class BadSignature(AppError):
    """A webhook whose ``Stripe-Signature`` is missing, wrong or too old."""

    code = "bad_signature"


class BadEvent(AppError):
    """A correctly signed webhook whose body is not a Stripe event."""

    code = "bad_event"


class StripeUnavailable(AppError):
    """Stripe refused or failed a call we made."""

    status_code = 502
    code = "stripe_error"

    def __init__(self, message: str, *, stripe_status: int | None) -> None:
        super().__init__(message)
        self.details = {"stripe_status": stripe_status}


@dataclass(frozen=True)
class VerifiedEvent:
    """A webhook event whose signature and age were checked."""

    id: str
    type: str
    object: dict[str, Any]
    """``data.object``: the subscription, checkout session or invoice the event is about."""


@dataclass(frozen=True)
class Subscription:
    """What Stripe says a subscription is now."""

    id: str
    customer: str
    status: str
    price_ids: tuple[str, ...]
    metadata: dict[str, str]


@asynccontextmanager
async def client(settings: BillingSettings) -> AsyncIterator[stripe.StripeClient]:
    """An SDK client for the configured account (:class:`BillingOff` without keys), its
    connections closed when the block ends."""
    if not settings.stripe_enabled or settings.stripe_secret_key is None:
        raise BillingOff()
    base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    http = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS)
    try:
        yield stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=NETWORK_RETRIES,
            http_client=http,
        )
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def verify_event(payload: bytes, signature: str | None, settings: BillingSettings) -> VerifiedEvent:
    """Check the body's ``Stripe-Signature`` (HMAC-SHA256 with the endpoint's secret, at
    most ``webhook_tolerance_seconds`` old) before anything in it is believed."""
    if not settings.stripe_enabled:
        raise BillingOff()
    try:
        stripe.Webhook.construct_event(
            payload,
            signature,
            settings.stripe_webhook_secret,
            tolerance=settings.webhook_tolerance_seconds,
        )
    except stripe.SignatureVerificationError as error:
        # In our own words: the SDK's messages give library advice to whoever is calling.
        if not signature:
            why = "the Stripe-Signature header is missing"
        elif "tolerance" in str(error):
            why = (
                "its timestamp is outside the tolerance of "
                f"{settings.webhook_tolerance_seconds} s (an old or replayed delivery)"
            )
        else:
            why = "no signature in the Stripe-Signature header matches this body and secret"
        raise BadSignature(f"webhook signature refused: {why}") from None
    except ValueError:
        raise BadEvent("webhook body is not a JSON event") from None
    body = json.loads(payload)
    data = body.get("data") if isinstance(body, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
        raise BadEvent("webhook body is not a Stripe event (no id or type)")
    return VerifiedEvent(
        id=body["id"], type=body["type"], object=obj if isinstance(obj, dict) else {}
    )


async def record_event(
    session: AsyncSession, event: VerifiedEvent, *, workspace_id: uuid.UUID | None, now: datetime
) -> bool:
    """Insert the event's row unless it is there; False when it was (processed before, or
    being processed by a concurrent delivery, whose transaction holds the row)."""
    values = {
        "id": uuid.uuid4(),
        "source": SOURCE,
        "event_id": event.id,
        "event_type": event.type,
        "workspace_id": workspace_id,
        "received_at": now,
        "processed_at": now,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(ExternalEvent).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(ExternalEvent).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - the two databases we support
        statement = insert(ExternalEvent).values(values)
    result = await session.execute(statement)
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def plan_of_price(settings: BillingSettings, price_ids: tuple[str, ...]) -> PlanName | None:
    """The plan whose configured price is one of the subscription's (None: no such plan)."""
    by_price = {price: plan for plan, price in settings.stripe_prices.items()}
    for price in price_ids:
        if price in by_price:
            return PlanName(by_price[price])
    return None


def _failure(error: stripe.StripeError) -> StripeUnavailable:
    status = error.http_status
    message = error.user_message or str(error) or type(error).__name__
    if status is None:
        return StripeUnavailable(f"Stripe could not be reached: {message}", stripe_status=None)
    return StripeUnavailable(f"Stripe answered {status}: {message}", stripe_status=status)


def _text(value: Any) -> str:
    """An id or an expanded object's id."""
    if isinstance(value, dict):
        return str(value.get("id", ""))
    return "" if value is None else str(value)


def customer_idempotency_key(workspace_id: uuid.UUID, params: dict[str, Any]) -> str:
    """The ``Idempotency-Key`` of a workspace's customer create: Stripe answers a repeat
    within 24 hours with the customer the first request made, so a retry (or a checkout
    whose transaction rolled back after the customer was made) never makes a second one.
    The key ends with a digest of the parameters, because Stripe refuses a key reused
    with other parameters (e.g. another owner's email)."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return f"echo-ai-customer-{workspace_id}-{digest}"


async def create_customer(
    settings: BillingSettings, *, workspace_id: uuid.UUID, name: str, email: str | None
) -> str:
    params: dict[str, Any] = {"name": name, "metadata": {"workspace_id": str(workspace_id)}}
    if email:
        params["email"] = email
    try:
        async with client(settings) as stripe_client:
            customer = await stripe_client.v1.customers.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": customer_idempotency_key(workspace_id, params)},
            )
    except stripe.StripeError as error:
        raise _failure(error) from None
    return str(customer.id)


async def create_checkout_session(
    settings: BillingSettings,
    *,
    customer: str,
    workspace_id: uuid.UUID,
    price: str,
    success_url: str,
    cancel_url: str,
) -> str:
    metadata = {"workspace_id": str(workspace_id)}
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(workspace_id),
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }
    try:
        async with client(settings) as stripe_client:
            checkout = await stripe_client.v1.checkout.sessions.create_async(params)  # type: ignore[arg-type]
    except stripe.StripeError as error:
        raise _failure(error) from None
    if not checkout.url:
        raise StripeUnavailable(
            "Stripe returned a Checkout Session without a URL", stripe_status=None
        )
    return str(checkout.url)


async def create_portal_session(
    settings: BillingSettings, *, customer: str, return_url: str
) -> str:
    params: dict[str, Any] = {"customer": customer, "return_url": return_url}
    try:
        async with client(settings) as stripe_client:
            portal = await stripe_client.v1.billing_portal.sessions.create_async(params)  # type: ignore[arg-type]
    except stripe.StripeError as error:
        raise _failure(error) from None
    return str(portal.url)


async def retrieve_subscription(settings: BillingSettings, subscription_id: str) -> Subscription:
    try:
        async with client(settings) as stripe_client:
            found = await stripe_client.v1.subscriptions.retrieve_async(subscription_id)
    except stripe.StripeError as error:
        raise _failure(error) from None
    data = found.to_dict()
    items = (data.get("items") or {}).get("data") or []
    prices = tuple(_text(item.get("price")) for item in items if isinstance(item, dict))
    return Subscription(
        id=str(data.get("id", subscription_id)),
        customer=_text(data.get("customer")),
        status=str(data.get("status", "")),
        price_ids=tuple(price for price in prices if price),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def subscription_of(event: VerifiedEvent) -> str | None:
    """The subscription an event is about: the object itself, a checkout session's or an
    invoice's (``parent.subscription_details`` since API version 2025-03-31)."""
    obj = event.object
    if obj.get("object") == "subscription":
        return _text(obj.get("id")) or None
    found = _text(obj.get("subscription"))
    if not found:
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") if isinstance(parent, dict) else None
        if isinstance(details, dict):
            found = _text(details.get("subscription"))
    return found or None


def customer_of(event: VerifiedEvent) -> str | None:
    return _text(event.object.get("customer")) or None


def workspace_of(event: VerifiedEvent) -> uuid.UUID | None:
    """The workspace named in the object's metadata (ours, set at checkout), if any."""
    metadata = event.object.get("metadata") or {}
    named = metadata.get("workspace_id") if isinstance(metadata, dict) else None
    named = named or event.object.get("client_reference_id")
    try:
        return uuid.UUID(str(named)) if named else None
    except ValueError:
        return None
