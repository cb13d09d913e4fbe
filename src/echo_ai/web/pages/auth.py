"""Sign up, sign in, sign out and the workspace switcher, on the browser session of the
JSON API (the same throttles, audit events and cookies)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from echo_ai.api.auth import ClientActor
from echo_ai.api.deps import SessionDep, SignInThrottleDep, StateDep
from echo_ai.api.routers.auth import LOGIN_PER_IP, REGISTER_PER_IP
from echo_ai.api.session import check_origin, clear_session_cookies, session_cookie_name
from echo_ai.api.sign_in import check_credentials, open_browser_session
from echo_ai.auth import service as accounts
from echo_ai.auth.schemas import Credentials, Registration
from echo_ai.errors import AppError
from echo_ai.security.passwords import MIN_PASSWORD_LENGTH
from echo_ai.security.rate_limit import RateLimited, RateLimiterDep, client_ip, enforce_rate_limit
from echo_ai.web.forms import FORM_ERROR, form_fields, local_path, retry_message, validate
from echo_ai.web.rendering import render
from echo_ai.web.viewer import WORKSPACE_COOKIE, CurrentViewer
from echo_ai.workspaces import service as workspaces

router = APIRouter(include_in_schema=False)

PASSWORD_HINT = f"At least {MIN_PASSWORD_LENGTH} characters."
SIGNED_UP_ELSEWHERE = (
    "If this email had no account, it has one now: sign in with the password you chose."
)


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


async def _signed_in(request: Request, state: StateDep, session: SessionDep) -> bool:
    cookie = request.cookies.get(session_cookie_name(state.settings))
    return cookie is not None and isinstance(await accounts.session_user(session, cookie), tuple)


@router.get("/login")
async def login_page(
    request: Request, state: StateDep, session: SessionDep, next: str | None = None
) -> Response:
    target = local_path(next)
    if await _signed_in(request, state, session):
        return _see_other(target)
    notice = SIGNED_UP_ELSEWHERE if request.query_params.get("registered") else None
    return render(
        request, "login.html", next=target, email="", errors={}, error=None, notice=notice
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

    def again(
        status_code: int,
        error: str | None,
        errors: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> Response:
        return render(
            request,
            "login.html",
            status_code=status_code,
            headers=headers,
            next=target,
            email=email,
            errors=errors,
            error=error,
            notice=None,
        )

    data = validate(Credentials, {"email": email, "password": fields.get("password", "")})
    if isinstance(data, dict):
        return again(422, None, data)
    try:
        await enforce_rate_limit(limiter, client_ip(request), LOGIN_PER_IP, name="login-ip")
        user = await check_credentials(data, request, session, throttle, actor)
    except RateLimited as refused:
        return again(429, retry_message(refused), {}, dict(refused.headers))
    if isinstance(user, AppError):
        return again(401, "The email or password is incorrect.", {})
    response = _see_other(target)
    await open_browser_session(response, session, state, user)
    return response


@router.get("/signup")
async def signup_page(
    request: Request, state: StateDep, session: SessionDep, next: str | None = None
) -> Response:
    target = local_path(next)
    if await _signed_in(request, state, session):
        return _see_other(target)
    return render(
        request,
        "signup.html",
        next=target,
        email="",
        display_name="",
        errors={},
        error=None,
        password_hint=PASSWORD_HINT,
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

    def again(
        status_code: int,
        error: str | None,
        errors: dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> Response:
        return render(
            request,
            "signup.html",
            status_code=status_code,
            headers=headers,
            next=target,
            email=email,
            display_name=display_name,
            errors=errors,
            error=error,
            password_hint=PASSWORD_HINT,
        )

    data = validate(
        Registration,
        {
            "email": email,
            "password": fields.get("password", ""),
            "display_name": display_name.strip() or None,
        },
    )
    if isinstance(data, dict):
        return again(422, data.pop(FORM_ERROR, None), data)
    try:
        await enforce_rate_limit(limiter, client_ip(request), REGISTER_PER_IP, name="register")
        user = await workspaces.register(session, data, actor=actor)
    except RateLimited as refused:
        return again(429, retry_message(refused), {}, dict(refused.headers))
    except accounts.WeakPassword as weak:
        return again(422, None, {"password": weak.message})
    if user is None:
        # The email had an account: answered as the API does, without saying so.
        return _see_other("/login?registered=1")
    response = _see_other(target)
    await open_browser_session(response, session, state, user)
    return response


@router.post("/logout")
async def logout(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    token = request.cookies.get(session_cookie_name(state.settings))
    if token:
        await accounts.logout(session, token)
    response = _see_other("/login")
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
    response = _see_other(section)
    if chosen in mine:
        response.set_cookie(
            WORKSPACE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            path="/",
            samesite="lax",
            httponly=True,
            secure=state.settings.server.https,
        )
    return response
