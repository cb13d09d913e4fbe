"""HTTP routes of billing: the workspace's plan and subscription, Stripe Checkout and the
Customer Portal (owners), and Stripe's webhook.

``POST /billing/stripe/webhook`` is called by Stripe, not by users: no credentials, so no
CSRF check (that applies to cookie-authenticated requests) and no workspace rate limit.
Its signature is checked before anything in the body is read or stored; a refused one
answers 400 and stores nothing. Without Stripe keys the billing routes answer 404
``billing_off``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from echo_ai.api.auth import CurrentPrincipal, ManagerPrincipal, PrincipalActor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.billing import stripe_billing
from echo_ai.billing.plans import PlanName
from echo_ai.billing.schemas import BillingOut, CheckoutCreate, RedirectOut
from echo_ai.db import utcnow
from echo_ai.workspaces import subscriptions

router = APIRouter(tags=["billing"])

SIGNATURE_HEADER = "stripe-signature"


@router.get(
    "/v1/billing",
    response_model=BillingOut,
    responses=error_responses(*AUTH_ERRORS, 422),
)
async def billing(principal: CurrentPrincipal, session: SessionDep, state: StateDep) -> BillingOut:
    """The workspace's plan, its Stripe subscription's status and, after a failed payment,
    when the grace period ends."""
    found = await subscriptions.billing_status(
        session, principal.workspace_id, settings=state.settings
    )
    return BillingOut(
        plan=found.plan,
        billing_on=found.billing_on,
        subscription_status=found.subscription_status,
        payment_failed_at=found.payment_failed_at,
        grace_until=found.grace_until,
        plans_for_sale=list(found.plans_for_sale),
    )


@router.post(
    "/v1/billing/checkout",
    response_model=RedirectOut,
    responses=error_responses(*AUTH_ERRORS, *BODY_ERRORS, 409, 502),
)
async def checkout(
    data: CheckoutCreate,
    request: Request,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> RedirectOut:
    """A Stripe Checkout page subscribing the workspace to a plan (owners, signed in).
    404 ``billing_off`` without Stripe keys; 409 when it already has a subscription (change
    it in the portal); 502 when Stripe fails."""
    assert principal.user is not None
    base = str(request.base_url)
    url = await subscriptions.start_checkout(
        session,
        principal.workspace_id,
        PlanName(data.plan),
        role=principal.role,
        email=principal.user.email,
        actor=actor,
        settings=state.settings,
        success_url=subscriptions.return_url(state.settings, base, "?checkout=done"),
        cancel_url=subscriptions.return_url(state.settings, base, "?checkout=cancelled"),
    )
    return RedirectOut(url=url)


@router.post(
    "/v1/billing/portal",
    response_model=RedirectOut,
    responses=error_responses(*AUTH_ERRORS, 409, 422, 502),
)
async def portal(
    request: Request,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> RedirectOut:
    """A Stripe Customer Portal page (payment methods, invoices, cancelling) for the
    workspace (owners, signed in). 409 before the workspace has subscribed."""
    url = await subscriptions.open_portal(
        session,
        principal.workspace_id,
        role=principal.role,
        actor=actor,
        settings=state.settings,
        return_url=subscriptions.return_url(state.settings, str(request.base_url)),
    )
    return RedirectOut(url=url)


@router.post(
    "/billing/stripe/webhook",
    status_code=status.HTTP_200_OK,
    responses=error_responses(400, 404, 413, 502),
)
async def stripe_webhook(request: Request, session: SessionDep, state: StateDep) -> dict[str, bool]:
    """Stripe's events. 400 for a missing, wrong or expired ``Stripe-Signature`` (nothing
    is stored); 502 when Stripe cannot be read back (Stripe retries the delivery).
    ``{"processed": false}`` for an event already processed."""
    payload = await request.body()
    event = stripe_billing.verify_event(
        payload, request.headers.get(SIGNATURE_HEADER), state.settings.billing
    )
    processed = await subscriptions.handle_event(
        session, event, settings=state.settings, now=utcnow()
    )
    return {"processed": processed}
