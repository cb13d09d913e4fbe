"""Pages of the mailed links: "Forgot password?" (ask for a reset link), setting a new
password with it, confirming the address given at sign-up, asking for a new
confirmation link, and confirming a new address. The same use cases, limits and answers
as the JSON API (``/auth/password-reset``, ``/auth/verify-email``,
``/v1/account/email/confirm``)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response

from echo_ai.accounts import email_change
from echo_ai.api.auth import ClientActor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.limits import (
    LOGIN_PER_IP,
    PASSWORD_RESETS_PER_ADDRESS,
    PASSWORD_RESETS_PER_IP,
    VERIFICATION_MAILS_PER_USER,
)
from echo_ai.api.session import check_origin
from echo_ai.auth import service as accounts
from echo_ai.auth.schemas import EmailTokenSubmit, PasswordResetConfirm, PasswordResetRequest
from echo_ai.errors import Conflict
from echo_ai.security.rate_limit import RateLimited, RateLimiterDep, client_ip, enforce_rate_limit
from echo_ai.web.forms import FORM_ERROR, form_fields, retry_message, validate
from echo_ai.web.pages.auth import PASSWORD_HINT
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, OptionalViewer
from echo_ai.workspaces import recovery

router = APIRouter(include_in_schema=False)

RESET_SENT = (
    "If this address has an account, a link to choose a new password is on its way. "
    "It works once, for {minutes} minutes."
)
BAD_LINK = "This link is invalid, expired or already used: ask for a new one."
ADDRESS_TAKEN = (
    "The address {email} already belongs to another account: your address was not changed."
)


@router.get("/forgot-password")
async def forgot_password_page(request: Request, viewer: OptionalViewer) -> Response:
    return render(request, "forgot_password.html", viewer=viewer, email="", errors={})


@router.post("/forgot-password")
async def forgot_password(
    request: Request,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: ClientActor,
    viewer: OptionalViewer,
) -> Response:
    check_origin(request, state.settings)
    fields = await form_fields(request)
    email = fields.get("email", "")
    again = partial(render, request, "forgot_password.html", viewer=viewer, email=email)
    data = validate(PasswordResetRequest, {"email": email})
    if isinstance(data, dict):
        return again(status_code=422, error=data.pop(FORM_ERROR, None), errors=data)
    try:
        await enforce_rate_limit(
            limiter, client_ip(request), PASSWORD_RESETS_PER_IP, name="password-reset-ip"
        )
        await enforce_rate_limit(
            limiter, data.email, PASSWORD_RESETS_PER_ADDRESS, name="password-reset-address"
        )
    except RateLimited as refused:
        return again(
            status_code=429, error=retry_message(refused), errors={}, headers=dict(refused.headers)
        )
    recovery.queue_password_reset(
        session,
        data.email,
        actor=actor,
        settings=state.settings,
        session_factory=state.runtime.session_factory,
    )
    notice = RESET_SENT.format(minutes=state.settings.privacy.reset_minutes)
    return render(
        request, "forgot_password.html", viewer=viewer, email="", errors={}, notice=notice
    )


@router.get("/reset-password")
async def reset_password_page(request: Request, token: str = "") -> Response:
    return render(
        request, "reset_password.html", token=token, errors={}, password_hint=PASSWORD_HINT
    )


@router.post("/reset-password")
async def reset_password(
    request: Request, session: SessionDep, state: StateDep, actor: ClientActor
) -> Response:
    check_origin(request, state.settings)
    fields = await form_fields(request)
    token = fields.get("token", "")
    again = partial(
        render, request, "reset_password.html", token=token, password_hint=PASSWORD_HINT
    )
    data = validate(
        PasswordResetConfirm, {"token": token, "new_password": fields.get("new_password", "")}
    )
    if isinstance(data, dict):
        if "token" in data:
            return again(status_code=400, error=BAD_LINK, errors={})
        return again(status_code=422, error=data.pop(FORM_ERROR, None), errors=data)
    try:
        await recovery.reset_password(
            session, data.token, data.new_password, actor=actor, settings=state.settings
        )
    except recovery.InvalidLink:
        return again(status_code=400, error=BAD_LINK, errors={})
    except accounts.WeakPassword as weak:
        return again(status_code=422, error=None, errors={"new_password": weak.message})
    return see_other(request, "/login?reset=1")


@router.get("/verify-email")
async def verify_email_page(request: Request, viewer: OptionalViewer, token: str = "") -> Response:
    """A button that confirms (a GET changes nothing: mail scanners open links too)."""
    return render(request, "verify_email.html", viewer=viewer, token=token, done=False)


@router.post("/verify-email")
async def verify_email(
    request: Request,
    session: SessionDep,
    state: StateDep,
    actor: ClientActor,
    viewer: OptionalViewer,
) -> Response:
    check_origin(request, state.settings)
    fields = await form_fields(request)
    token = fields.get("token", "")
    data = validate(EmailTokenSubmit, {"token": token})
    try:
        if isinstance(data, dict):
            raise recovery.InvalidLink
        user = await recovery.verify_email(session, data.token, actor=actor)
    except recovery.InvalidLink:
        return render(
            request,
            "verify_email.html",
            status_code=400,
            viewer=viewer,
            token="",
            done=False,
            error=BAD_LINK,
        )
    return render(
        request, "verify_email.html", viewer=viewer, token="", done=True, email=user.email
    )


@router.post("/verify-email/resend")
async def resend_verification(
    request: Request,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
) -> Response:
    """A new confirmation link for the signed-in user (from the overview's notice)."""
    try:
        await enforce_rate_limit(
            limiter, str(viewer.user.id), VERIFICATION_MAILS_PER_USER, name="verify-email-resend"
        )
        await recovery.resend_verification(session, viewer.user, settings=state.settings)
    except RateLimited as refused:
        return render(
            request,
            "verify_email.html",
            status_code=429,
            viewer=viewer,
            token="",
            done=False,
            error=retry_message(refused),
        )
    except Conflict:
        return see_other(request, "/")
    return render(
        request, "verify_email.html", viewer=viewer, token="", done=False, sent=viewer.user.email
    )


@router.get("/confirm-email")
async def confirm_email_page(request: Request, viewer: OptionalViewer, token: str = "") -> Response:
    """The link mailed to a new address: a button that confirms the change (a GET changes
    nothing: mail scanners open links too)."""
    return render(request, "confirm_email.html", viewer=viewer, token=token, done=False)


@router.post("/confirm-email")
async def confirm_email(
    request: Request,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: ClientActor,
    viewer: OptionalViewer,
) -> Response:
    check_origin(request, state.settings)
    fields = await form_fields(request)
    data = validate(EmailTokenSubmit, {"token": fields.get("token", "")})
    again = partial(render, request, "confirm_email.html", viewer=viewer, token="", done=False)
    try:
        await enforce_rate_limit(limiter, client_ip(request), LOGIN_PER_IP, name="confirm-email")
        if isinstance(data, dict):
            raise recovery.InvalidLink
        user = await email_change.confirm_change(
            session, data.token, actor=actor, settings=state.settings
        )
    except RateLimited as refused:
        return again(status_code=429, error=retry_message(refused), headers=dict(refused.headers))
    except recovery.InvalidLink:
        return again(status_code=400, error=BAD_LINK)
    except email_change.AddressTaken as taken:
        return again(status_code=409, error=ADDRESS_TAKEN.format(email=taken.email))
    return render(
        request, "confirm_email.html", viewer=viewer, token="", done=True, email=user.email
    )
