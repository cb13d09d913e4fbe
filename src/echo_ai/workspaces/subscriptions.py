"""A workspace's Stripe subscription: Checkout to subscribe, the Customer Portal to manage
it, the webhook that makes the plan follow it, and the daily step that ends a grace period.

The plan follows what Stripe says the subscription is *now*: every relevant webhook makes
us read the subscription (``subscriptions.retrieve``) and apply its current status and
price, so events that arrive late, twice or out of order cannot leave a stale plan.

- ``active``/``trialing``: the plan of the subscription's price
  (``ECHO_AI_BILLING__STRIPE_PRICES``); a failed payment is forgotten.
- ``past_due``/``unpaid``: the payment failed. ``payment_failed_at`` is set (kept if
  already set) and the plan is kept for ``grace_days``; then :func:`downgrade_lapsed` (or
  the next event) moves the workspace to ``free``.
- ``canceled``/``incomplete_expired``/``paused``: ``free``.
- ``incomplete`` (the first payment is pending): nothing changes.

Every use case here that may change the workspace locks its row first (``SELECT ... FOR
UPDATE``; on SQLite a no-op UPDATE, since only a write takes its lock) and only then
talks to Stripe: two checkouts of one workspace (a double click) make one Stripe customer
(the second waits and finds it; the customer create also carries an idempotency key
derived from the workspace id, so a retried request gets the same customer), and two
webhooks about one workspace read the subscription one after the other, so the one that
commits last applies what Stripe said last.

Only a workspace's **owners** start a checkout or open the portal: both commit the
workspace to payments (admins manage members and keys, not money).

These use cases live in ``workspaces`` (not ``billing``) because they change the
workspace; the Stripe wire is :mod:`echo_ai.billing.stripe_billing`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing import stripe_billing
from echo_ai.billing.plans import PlanName
from echo_ai.billing.stripe_billing import (
    ENDED_STATUSES,
    LIVE_STATUSES,
    SUBSCRIPTION_EVENTS,
    UNPAID_STATUSES,
    BillingOff,
    Subscription,
    VerifiedEvent,
)
from echo_ai.config import Settings
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.workspaces import service as workspace_service
from echo_ai.workspaces.models import Role, Workspace
from echo_ai.workspaces.service import NotAllowed

logger = logging.getLogger(__name__)

OWNERS_ONLY = "only the workspace's owners can manage its subscription"


class PlanNotSold(AppError):
    """A plan without a Stripe price (``free``, ``self_hosted``, or one not configured)."""

    code = "plan_not_sold"


@dataclass(frozen=True)
class BillingStatus:
    plan: PlanName
    billing_on: bool
    subscription_status: str | None
    payment_failed_at: datetime | None
    grace_until: datetime | None
    """When a workspace whose payment failed moves to ``free`` (None: no failed payment)."""
    has_customer: bool
    """A Stripe customer exists, so the Customer Portal can be opened."""
    plans_for_sale: tuple[PlanName, ...]

    @property
    def subscribed(self) -> bool:
        return self.subscription_status in LIVE_STATUSES | UNPAID_STATUSES


BILLING_PAGE = "/settings/billing"


def return_url(settings: Settings, request_base: str, query: str = "") -> str:
    """Where Stripe's hosted pages send the customer back: the billing page, under
    ``server.public_url`` (else the address the request came to)."""
    base = (settings.server.public_url or request_base).rstrip("/")
    return f"{base}{BILLING_PAGE}{query}"


def grace_until(workspace: Workspace, settings: Settings) -> datetime | None:
    if workspace.payment_failed_at is None:
        return None
    return workspace.payment_failed_at + timedelta(days=settings.billing.grace_days)


def plans_for_sale(settings: Settings) -> tuple[PlanName, ...]:
    """The paid plans that have a Stripe price, in the plans table's order."""
    priced = settings.billing.stripe_prices
    return tuple(
        plan
        for plan in PlanName
        if plan not in (PlanName.FREE, PlanName.SELF_HOSTED) and plan.value in priced
    )


async def _workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    return workspace


async def _locked_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    """The workspace's row, locked until the transaction ends and read after the lock
    (another transaction may have changed it while we waited)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "sqlite":
        await session.execute(
            update(Workspace)
            .where(Workspace.id == workspace_id)
            .values(updated_at=Workspace.updated_at)
            .execution_options(synchronize_session=False)
        )
    workspace = await session.scalar(
        select(Workspace)
        .where(Workspace.id == workspace_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if workspace is None:
        raise NotFound("no such workspace")
    return workspace


async def billing_status(
    session: AsyncSession, workspace_id: uuid.UUID, *, settings: Settings
) -> BillingStatus:
    workspace = await _workspace(session, workspace_id)
    return BillingStatus(
        plan=workspace.plan,
        billing_on=settings.billing.stripe_enabled,
        subscription_status=workspace.subscription_status,
        payment_failed_at=workspace.payment_failed_at,
        grace_until=grace_until(workspace, settings),
        has_customer=workspace.stripe_customer_id is not None,
        plans_for_sale=plans_for_sale(settings),
    )


def _check_owner(role: Role, settings: Settings) -> None:
    if not settings.billing.stripe_enabled:
        raise BillingOff()
    if role is not Role.OWNER:
        raise NotAllowed(OWNERS_ONLY)


async def start_checkout(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    plan: PlanName,
    *,
    role: Role,
    email: str | None,
    actor: Actor,
    settings: Settings,
    success_url: str,
    cancel_url: str,
) -> str:
    """The URL of a Stripe Checkout Session subscribing the workspace to ``plan`` (owners
    only). The workspace's Stripe customer is made on first use and kept; the workspace's
    row is locked first, so concurrent checkouts make one customer."""
    _check_owner(role, settings)
    price = settings.billing.stripe_prices.get(plan.value)
    if plan not in plans_for_sale(settings) or price is None:
        sold = ", ".join(p.value for p in plans_for_sale(settings)) or "none"
        raise PlanNotSold(f"the {plan.value} plan cannot be bought (plans for sale: {sold})")
    workspace = await _locked_workspace(session, workspace_id)
    if workspace.subscription_status in LIVE_STATUSES | UNPAID_STATUSES:
        raise Conflict(
            "this workspace already has a subscription: change its plan in the billing portal"
        )
    if workspace.stripe_customer_id is None:
        workspace.stripe_customer_id = await stripe_billing.create_customer(
            settings.billing, workspace_id=workspace.id, name=workspace.name, email=email
        )
        await session.flush()
    url = await stripe_billing.create_checkout_session(
        settings.billing,
        customer=workspace.stripe_customer_id,
        workspace_id=workspace.id,
        price=price,
        success_url=success_url,
        cancel_url=cancel_url,
    )
    await _record(
        session,
        Action.BILLING_CHECKOUT_STARTED,
        workspace,
        actor,
        {"plan": plan.value, "customer": workspace.stripe_customer_id},
    )
    return url


async def open_portal(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    role: Role,
    actor: Actor,
    settings: Settings,
    return_url: str,
) -> str:
    """The URL of a Stripe Customer Portal session (payment methods, invoices, cancelling)
    for the workspace's customer (owners only)."""
    _check_owner(role, settings)
    workspace = await _workspace(session, workspace_id)
    if workspace.stripe_customer_id is None:
        raise Conflict("this workspace has no Stripe customer yet: subscribe to a plan first")
    url = await stripe_billing.create_portal_session(
        settings.billing, customer=workspace.stripe_customer_id, return_url=return_url
    )
    await _record(session, Action.BILLING_PORTAL_OPENED, workspace, actor, {})
    return url


@dataclass(frozen=True)
class _Match:
    workspace: Workspace | None
    """The workspace the event is about, its row locked (None: not ours, or unmatched)."""
    named: Workspace | None = None
    """The workspace named in the event's metadata when its customer is not the
    workspace's: the event is recorded against it and not applied."""
    customer: str | None = None
    """The event's customer, when it is not the named workspace's."""


async def _workspace_of_event(session: AsyncSession, event: VerifiedEvent) -> _Match:
    """The workspace an event is about, by its customer, else by the workspace named in
    its metadata (a checkout completed before our transaction saw the customer id).

    When the metadata names a workspace whose stored customer is another one (e.g. a
    second customer made for it before checkouts locked the workspace), the event is not
    applied: the mismatch is logged as a warning with both customer ids and audited on
    that workspace (``billing.event_unmatched``, by :func:`handle_event`), for an operator
    to settle in Stripe."""
    customer = stripe_billing.customer_of(event)
    workspace_id: uuid.UUID | None = None
    if customer is not None:
        workspace_id = await session.scalar(
            select(Workspace.id).where(Workspace.stripe_customer_id == customer)
        )
    named = None
    if workspace_id is None:
        named = stripe_billing.workspace_of(event)
        if named is None or await session.get(Workspace, named) is None:
            return _Match(None)
        workspace_id = named
    workspace = await _locked_workspace(session, workspace_id)
    if named is None:
        return _Match(workspace)
    if workspace.stripe_customer_id is None and customer is not None:
        # A checkout completed for a customer made outside this transaction's view.
        workspace.stripe_customer_id = customer
        return _Match(workspace)
    if workspace.stripe_customer_id == customer:
        return _Match(workspace)
    logger.warning(
        "stripe event %s (%s) names workspace %s but its customer %s is not the workspace's"
        " customer %s: not applied",
        event.id,
        event.type,
        workspace.id,
        customer,
        workspace.stripe_customer_id,
    )
    return _Match(None, named=workspace, customer=customer)


async def handle_event(
    session: AsyncSession, event: VerifiedEvent, *, settings: Settings, now: datetime
) -> bool:
    """Apply a verified webhook event once: False (and nothing done) when its id was seen
    before. Subscription, checkout and invoice events make the workspace follow the
    subscription's current state in Stripe; other events are only recorded.

    The workspace's row is locked *before* the subscription is read from Stripe, so two
    events about one workspace (``invoice.payment_failed`` then ``invoice.paid``) read
    it one after the other and the last to commit applies Stripe's latest state."""
    match = await _workspace_of_event(session, event)
    workspace = match.workspace
    recorded_for = match.named if workspace is None else workspace
    fresh = await stripe_billing.record_event(
        session, event, workspace_id=None if recorded_for is None else recorded_for.id, now=now
    )
    if fresh and match.named is not None:
        await _record(
            session,
            Action.BILLING_EVENT_UNMATCHED,
            match.named,
            Actor.stripe(),
            {
                "event": event.id,
                "event_type": event.type,
                "event_customer": match.customer,
                "workspace_customer": match.named.stripe_customer_id,
            },
        )
    if not fresh or workspace is None or event.type not in SUBSCRIPTION_EVENTS:
        return fresh
    subscription_id = stripe_billing.subscription_of(event)
    if subscription_id is None:
        return True
    subscription = await stripe_billing.retrieve_subscription(settings.billing, subscription_id)
    if subscription.customer != workspace.stripe_customer_id:
        return True
    await _follow(session, workspace, subscription, event=event, settings=settings, now=now)
    return True


async def _follow(
    session: AsyncSession,
    workspace: Workspace,
    subscription: Subscription,
    *,
    event: VerifiedEvent,
    settings: Settings,
    now: datetime,
) -> None:
    status = subscription.status
    current = workspace.stripe_subscription_id
    if current not in (None, subscription.id) and status not in LIVE_STATUSES | UNPAID_STATUSES:
        return  # an older subscription ended; the workspace has moved on to another one
    actor = Actor.stripe()
    before_status = workspace.subscription_status
    workspace.stripe_subscription_id = subscription.id
    workspace.subscription_status = status
    priced = stripe_billing.plan_of_price(settings.billing, subscription.price_ids)
    plan = workspace.plan
    if status in LIVE_STATUSES:
        plan = priced or plan
        if workspace.payment_failed_at is not None:
            workspace.payment_failed_at = None
            await _record(session, Action.PAYMENT_RECOVERED, workspace, actor, {})
    elif status in UNPAID_STATUSES:
        if workspace.payment_failed_at is None:
            workspace.payment_failed_at = now
            until = grace_until(workspace, settings)
            assert until is not None
            await _record(
                session,
                Action.PAYMENT_FAILED,
                workspace,
                actor,
                {"status": status, "grace_until": until.isoformat()},
            )
        until = grace_until(workspace, settings)
        plan = PlanName.FREE if until is not None and now >= until else priced or plan
    elif status in ENDED_STATUSES or status == "paused":
        plan = PlanName.FREE
        workspace.payment_failed_at = None
    if status != before_status or current != subscription.id:
        await _record(
            session,
            Action.SUBSCRIPTION_SYNCED,
            workspace,
            actor,
            {
                "event": event.id,
                "event_type": event.type,
                "subscription": subscription.id,
                "from": before_status,
                "to": status,
            },
        )
    await _change_plan(session, workspace, plan, actor=actor, reason=event.type)


async def _record(
    session: AsyncSession,
    action: Action,
    workspace: Workspace,
    actor: Actor,
    details: dict[str, object],
) -> None:
    await audit.record(
        session,
        action,
        actor=actor,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        details=details,
    )


async def _change_plan(
    session: AsyncSession, workspace: Workspace, plan: PlanName, *, actor: Actor, reason: str
) -> None:
    if plan == workspace.plan:
        await session.flush()
        return
    await workspace_service.change_plan(session, workspace, plan, actor=actor, reason=reason)


async def downgrade_lapsed(
    session: AsyncSession, *, now: datetime, settings: Settings
) -> list[uuid.UUID]:
    """Move to ``free`` every workspace whose payment failed more than ``grace_days`` ago
    and is still unpaid (the daily maintenance step; audited as the scheduler). Returns
    their ids. Does nothing while billing is off: a plan set by an operator stays."""
    if not settings.billing.stripe_enabled:
        return []
    cutoff = now - timedelta(days=settings.billing.grace_days)
    lapsed = list(
        await session.scalars(
            select(Workspace)
            .where(
                Workspace.payment_failed_at.is_not(None),
                Workspace.payment_failed_at <= cutoff,
                Workspace.plan != PlanName.FREE,
            )
            .order_by(Workspace.id)
        )
    )
    for workspace in lapsed:
        await _change_plan(
            session, workspace, PlanName.FREE, actor=Actor.scheduler(), reason="grace_period_over"
        )
    return [workspace.id for workspace in lapsed]
