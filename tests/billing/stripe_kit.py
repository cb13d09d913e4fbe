"""Settings with Stripe billing on, pointed at the fake Stripe API; signed webhooks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from echo_ai.billing.models import ExternalEvent
from echo_ai.config import BillingSettings, Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy.models import AuditEvent
from echo_ai.testing.fake_stripe import event_body, signature_header
from echo_ai.workspaces.models import Workspace

SECRET_KEY = "sk_test_echo"
WEBHOOK_SECRET = "whsec_test_echo_signing_secret"
PRICES = {"team": "price_team_monthly", "business": "price_business_monthly"}
WEBHOOK = "/billing/stripe/webhook"


def with_stripe(settings: Settings, api_base: str, **billing: Any) -> Settings:
    """``settings`` with Stripe billing on, its API at ``api_base``."""
    options: dict[str, Any] = {
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": api_base,
        "stripe_prices": PRICES,
        **billing,
    }
    return settings.model_copy(update={"billing": BillingSettings(**options)})


async def deliver(
    client: httpx.AsyncClient,
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> httpx.Response:
    """POST a webhook signed as Stripe signs it."""
    body = event_body(event_type, obj, event_id=event_id)
    headers = {
        "Stripe-Signature": signature_header(body, WEBHOOK_SECRET, timestamp=timestamp),
        "Content-Type": "application/json",
    }
    return await client.post(WEBHOOK, content=body, headers=headers)


async def workspace(runtime: Runtime, workspace_id: uuid.UUID | str) -> Workspace:
    async with transaction(runtime.session_factory) as session:
        found = await session.get(Workspace, uuid.UUID(str(workspace_id)))
        assert found is not None
        return found


async def event_count(runtime: Runtime) -> int:
    async with transaction(runtime.session_factory) as session:
        return int(await session.scalar(select(func.count()).select_from(ExternalEvent)) or 0)


async def audit_actions(runtime: Runtime, workspace_id: uuid.UUID | str) -> list[tuple[str, str]]:
    """(action, actor type) of the workspace's events, oldest first."""
    async with transaction(runtime.session_factory) as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.actor_type)
            .where(AuditEvent.workspace_id == uuid.UUID(str(workspace_id)))
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return [(action, actor) for action, actor in rows]
