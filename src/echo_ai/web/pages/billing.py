"""Settings › Billing: the workspace's plan and Stripe subscription; owners subscribe
(Stripe Checkout) and manage payment methods, invoices and cancelling (the Customer
Portal). Without Stripe keys the page says that an operator sets plans.

The buttons post here and are answered with a redirect to the Stripe-hosted page. A form
may only lead to our own origin (``form-action 'self'``), so this page's own CSP also
allows Stripe's hosted pages (and the configured API base, the fake server in tests)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.billing.plans import PlanName
from echo_ai.config import Settings
from echo_ai.errors import AppError
from echo_ai.security.csrf import normalize_origin
from echo_ai.security.headers import security_headers
from echo_ai.web.forms import form_fields
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, ManagerViewer, Viewer
from echo_ai.workspaces import subscriptions
from echo_ai.workspaces.models import Role

router = APIRouter(include_in_schema=False)

STRIPE_PAGES = ("https://checkout.stripe.com", "https://billing.stripe.com")

NOTICES = {
    "done": "Thank you: your subscription starts as soon as Stripe confirms the payment "
    "(usually within seconds; reload this page).",
    "cancelled": "Checkout was cancelled: nothing was charged.",
}


def _csp(settings: Settings) -> str:
    allowed = ["'self'", *STRIPE_PAGES]
    if settings.billing.stripe_api_base:
        origin = normalize_origin(settings.billing.stripe_api_base)
        if origin:
            allowed.append(origin)
    policy = security_headers(https=False, private=True)["Content-Security-Policy"]
    return policy.replace("form-action 'self'", "form-action " + " ".join(allowed))


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    status = await subscriptions.billing_status(
        session, viewer.workspace_id, settings=state.settings
    )
    return render(
        request,
        "settings/billing.html",
        status_code=status_code,
        headers={"Content-Security-Policy": _csp(state.settings)},
        viewer=viewer,
        section="billing",
        billing=status,
        is_owner=viewer.role is Role.OWNER,
        notice=NOTICES.get(request.query_params.get("checkout", "")),
        error=error,
    )


@router.get("/settings/billing")
async def billing_settings(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    return await _page(request, viewer, session, state)


@router.post("/settings/billing/checkout")
async def checkout(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    plan = (await form_fields(request)).get("plan", "")
    if plan not in {p.value for p in PlanName}:
        return await _page(request, viewer, session, state, status_code=422, error="Pick a plan.")
    try:
        url = await subscriptions.start_checkout(
            session,
            viewer.workspace_id,
            PlanName(plan),
            role=viewer.role,
            email=viewer.user.email,
            actor=viewer.actor,
            settings=state.settings,
            success_url=subscriptions.return_url(
                state.settings, str(request.base_url), "?checkout=done"
            ),
            cancel_url=subscriptions.return_url(
                state.settings, str(request.base_url), "?checkout=cancelled"
            ),
        )
    except AppError as refused:
        return await _page(
            request, viewer, session, state, status_code=refused.status_code, error=refused.message
        )
    return see_other(request, url)


@router.post("/settings/billing/portal")
async def portal(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    try:
        url = await subscriptions.open_portal(
            session,
            viewer.workspace_id,
            role=viewer.role,
            actor=viewer.actor,
            settings=state.settings,
            return_url=subscriptions.return_url(state.settings, str(request.base_url)),
        )
    except AppError as refused:
        return await _page(
            request, viewer, session, state, status_code=refused.status_code, error=refused.message
        )
    return see_other(request, url)
