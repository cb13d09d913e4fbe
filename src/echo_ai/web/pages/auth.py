"""Sign up, sign in, sign out and the workspace switcher, on the browser session of the
JSON API (the same throttles, audit events and cookies)."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response

from echo_ai.accounts import consent
from echo_ai.api.auth import ClientActor
from echo_ai.api.deps import SessionDep, SignInThrottleDep, StateDep
from echo_ai.api.limits import LOGIN_PER_IP, REGISTER_PER_IP
from echo_ai.api.session import check_origin, clear_session_cookies, session_cookie_name
from echo_ai.api.sign_in import check_credentials, open_browser_session
from echo_ai.auth import service as accounts
from echo_ai.auth import twofactor
from echo_ai.auth.schemas import Credentials, Registration
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.security.passwords import MIN_PASSWORD_LENGTH
from echo_ai.security.rate_limit import RateLimited, RateLimiterDep, client_ip, enforce_rate_limit
from echo_ai.web.forms import FORM_ERROR, form_fields, local_path, retry_message, validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, OptionalViewer, choose_workspace

router = APIRouter(include_in_schema=False)

PASSWORD_HINT = f"At least {MIN_PASSWORD_LENGTH} characters."
SECOND_STEP = (
    "This account uses two-factor authentication: enter the code from your authenticator "
    "app (or a recovery code) and your password again."
)
WRONG_CODE = "The code is wrong, expired or already used: enter a new one and your password."
SIGNED_UP_ELSEWHERE = (
    "If this email had no account, it has one now: sign in with the password you chose."
)

PASSWORD_RESET_DONE = "Your password is changed: sign in with the new one."

ACCOUNT_DELETED = "Your account is deleted, with the workspaces that were only yours."

NOTICES = {
    "registered": SIGNED_UP_ELSEWHERE,
    "reset": PASSWORD_RESET_DONE,
    "deleted": ACCOUNT_DELETED,
}
"""What the sign-in page says after ``/login?<key>=1``."""


def _form_again(
    request: Request,
    template: str,
    status_code: int,
    error: str | None,
    errors: dict[str, str],
    headers: dict[str, str] | None = None,
    **typed: Any,
) -> Response:
    typed.setdefault("ask_code", False)
    """The sign-in or sign-up form: empty, or again with its message(s) (``error`` above
    the form, ``errors`` beside the fields) and what was typed (``typed``, the template's
    other fields). Each route binds its template and fields once (``partial``)."""
    return render(
        request,
        template,
        status_code=status_code,
        headers=headers,
        errors=errors,
        error=error,
        **typed,
    )


@router.get("/login")
async def login_page(request: Request, viewer: OptionalViewer, next: str | None = None) -> Response:
    target = local_path(next)
    if viewer is not None:
        return see_other(request, target)
    # ``next`` is the page to go to after signing in here, not the builtin.
    shown = [text for key, text in NOTICES.items() if request.query_params.get(key)]
    notice = shown[0] if shown else None
    return _form_again(
        request, "login.html", 200, None, {}, next=target, email="", notice=notice, ask_code=False
    )


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    state: StateDep,
    throttle: SignInThrottleDep,
    limiter: RateLimiterDep,
    actor: ClientActor,
) -> Response:
    check_origin(request, state.settings)
    fields = await form_fields(request)
    target = local_path(fields.get("next"))
    email = fields.get("email", "")

    code = fields.get("totp_code", "").strip()
    # The second step of an account with 2FA asks for the password again with the code
    # (both on one form): no half-signed-in state is kept between the two requests.
    again = partial(
        _form_again,
        request,
        "login.html",
        next=target,
        email=email,
        notice=None,
        ask_code=bool(fields.get("ask_code")),
    )
    data = validate(Credentials, {"email": email, "password": fields.get("password", "")})
    if isinstance(data, dict):
        return again(422, None, data)
    try:
        await enforce_rate_limit(limiter, client_ip(request), LOGIN_PER_IP, name="login-ip")
        user = await check_credentials(
            data, request, session, throttle, actor, keys=state.keys, second_factor=code or None
        )
    except RateLimited as refused:
        return again(429, retry_message(refused), {}, dict(refused.headers))
    if isinstance(user, twofactor.SecondFactorRequired):
        return again(401, SECOND_STEP, {}, ask_code=True)
    if isinstance(user, twofactor.InvalidSecondFactor):
        return again(401, WRONG_CODE, {}, ask_code=True)
    if isinstance(user, AppError):
        return again(401, "The email or password is incorrect.", {})
    response = see_other(request, target)
    await open_browser_session(response, session, state, user, request)
    return response


@router.get("/signup")
async def signup_page(
    request: Request, viewer: OptionalViewer, state: StateDep, next: str | None = None
) -> Response:
    target = local_path(next)
    if viewer is not None:
        return see_other(request, target)
    return _form_again(
        request,
        "signup.html",
        200,
        None,
        {},
        next=target,
        email="",
        display_name="",
        password_hint=PASSWORD_HINT,
        privacy=state.settings.privacy,
    )


@router.post("/signup")
async def signup(
    request: Request,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: ClientActor,
) -> Response:
    check_origin(request, state.settings)
    fields = await form_fields(request)
    target = local_path(fields.get("next"))
    email, display_name = fields.get("email", ""), fields.get("display_name", "")

    again = partial(
        _form_again,
        request,
        "signup.html",
        next=target,
        email=email,
        display_name=display_name,
        password_hint=PASSWORD_HINT,
        privacy=state.settings.privacy,
    )
    data = validate(
        Registration,
        {
            "email": email,
            "password": fields.get("password", ""),
            "display_name": display_name.strip() or None,
            "accept_terms": fields.get("accept_terms") == "on",
            "marketing_opt_in": fields.get("marketing_opt_in") == "on",
        },
    )
    if isinstance(data, dict):
        return again(422, data.pop(FORM_ERROR, None), data)
    try:
        await enforce_rate_limit(limiter, client_ip(request), REGISTER_PER_IP, name="register")
        user = await consent.sign_up(
            session, data, actor=actor, settings=state.settings, now=utcnow()
        )
    except RateLimited as refused:
        return again(429, retry_message(refused), {}, dict(refused.headers))
    except accounts.WeakPassword as weak:
        return again(422, None, {"password": weak.message})
    if user is None:
        # The email had an account: answered as the API does, without saying so.
        return see_other(request, "/login?registered=1")
    response = see_other(request, target)
    await open_browser_session(response, session, state, user, request)
    return response


@router.post("/logout")
async def logout(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    token = request.cookies.get(session_cookie_name(state.settings))
    if token:
        await accounts.logout(session, token)
    response = see_other(request, "/login")
    clear_session_cookies(response, state.settings)
    return response


SECTIONS = ("/brands", "/settings")
"""Where the switcher stays (the same section of the other workspace); from anywhere
else (an experiment of the workspace left) it goes to the overview."""


@router.post("/workspace")
async def switch_workspace(request: Request, viewer: CurrentViewer, state: StateDep) -> Response:
    """Choose the workspace the pages show (one of the viewer's)."""
    fields = await form_fields(request)
    chosen = fields.get("workspace_id", "")
    mine = {str(workspace.id) for _, workspace in viewer.memberships}
    came_from = local_path(fields.get("next"))
    section = next((s for s in SECTIONS if came_from.startswith(s)), "/")
    response = see_other(request, section)
    if chosen in mine:
        choose_workspace(response, chosen, state.settings)
    return response
