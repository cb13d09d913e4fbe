"""HTTP routes of accounts and sign-in: parse, call the service, shape the response."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from echo_ai.accounts import consent
from echo_ai.api.auth import (
    AccountUser,
    ClientActor,
    CurrentPrincipal,
    CurrentUser,
    GuessesDep,
    PrincipalActor,
)
from echo_ai.api.deps import SessionDep, SignInThrottleDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_response, error_responses
from echo_ai.api.limits import (
    LOGIN_PER_IP,
    PASSWORD_RESETS_PER_ADDRESS,
    PASSWORD_RESETS_PER_IP,
    REGISTER_PER_IP,
    VERIFICATION_MAILS_PER_USER,
)
from echo_ai.api.session import (
    CsrfToken,
    check_csrf,
    clear_session_cookies,
    session_cookie_name,
)
from echo_ai.api.sign_in import check_credentials, device, open_browser_session, token_settings
from echo_ai.auth import service as accounts
from echo_ai.auth import twofactor
from echo_ai.auth.schemas import (
    ConsentRequired,
    EmailTokenSubmit,
    Message,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    Registration,
    SignIn,
    TokenPair,
)
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.security.credentials import Refusal
from echo_ai.security.rate_limit import RateLimiterDep, client_ip, enforce_rate_limit, rate_limit
from echo_ai.workspaces import recovery
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.schemas import MembershipOut, UserOut

router = APIRouter(tags=["accounts"], responses=error_responses(422))

PASSWORD_CHANGES_PER_USER = "5/hour"

REGISTERED = Message(message="registered: if this email had no account, you can now log in")


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=Message,
    responses=error_responses(*BODY_ERRORS, 429),
    dependencies=[Depends(rate_limit(REGISTER_PER_IP, name="register"))],
)
async def register(
    data: Registration, session: SessionDep, state: StateDep, actor: ClientActor
) -> Message:
    """Create an account and its personal workspace. The answer is the same whether or
    not the email already had an account, so it cannot be used to discover accounts.
    Registering accepts the current terms and privacy policy (``accept_terms``: required, and
    it must be true: 422 otherwise) and records it; ``marketing_opt_in`` is a separate opt-in."""
    await consent.sign_up(session, data, actor=actor, settings=state.settings, now=utcnow())
    return REGISTERED


@router.post(
    "/auth/login",
    response_model=TokenPair,
    responses=error_responses(*BODY_ERRORS, 401, 429),
    dependencies=[Depends(rate_limit(LOGIN_PER_IP, name="login-ip"))],
)
async def login(
    data: SignIn,
    request: Request,
    session: SessionDep,
    state: StateDep,
    throttle: SignInThrottleDep,
    actor: ClientActor,
) -> TokenPair | JSONResponse:
    """Sign in for a token pair. Failed attempts from one address slow that address down
    (429 with ``Retry-After``), not the account's owner elsewhere.

    An account with two-factor authentication also needs ``totp_code`` (a current code of
    the authenticator app or a recovery code): without it the answer is 401
    ``second_factor_required``, with a wrong or replayed one 401
    ``invalid_second_factor``; both count as failed attempts. ``consent_required`` in the
    answer names newer terms/privacy versions to accept (``POST /v1/account/consents``)."""
    user = await check_credentials(
        data, request, session, throttle, actor, keys=state.keys, second_factor=data.totp_code
    )
    if isinstance(user, AppError):
        return error_response(user.status_code, user.code, user.message)
    user_agent, ip = device(request)
    pair = await accounts.issue_tokens(
        session, user, tokens=token_settings(state), user_agent=user_agent, ip=ip
    )
    pending = await consent.needed(session, user, privacy=state.settings.privacy)
    if pending is not None:
        pair.consent_required = ConsentRequired(
            terms_version=pending.terms_version, privacy_version=pending.privacy_version
        )
    return pair


@router.post(
    "/auth/session",
    response_model=CsrfToken,
    responses=error_responses(*BODY_ERRORS, 401, 429),
    dependencies=[Depends(rate_limit(LOGIN_PER_IP, name="login-ip"))],
)
async def start_session(
    data: SignIn,
    request: Request,
    response: Response,
    session: SessionDep,
    state: StateDep,
    throttle: SignInThrottleDep,
    actor: ClientActor,
) -> CsrfToken | JSONResponse:
    """Browser sign-in: the session goes in an HttpOnly cookie (a refresh token of a new
    family, revocable), the CSRF token bound to it in the body and the ``echo_csrf``
    cookie. Unsafe requests made with the cookie must echo it in ``X-CSRF-Token``. Two-
    factor authentication as for ``/auth/login``."""
    user = await check_credentials(
        data, request, session, throttle, actor, keys=state.keys, second_factor=data.totp_code
    )
    if isinstance(user, AppError):
        return error_response(user.status_code, user.code, user.message)
    return CsrfToken(csrf_token=await open_browser_session(response, session, state, user, request))


@router.delete(
    "/auth/session", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403)
)
async def end_session(request: Request, session: SessionDep, state: StateDep) -> Response:
    """Browser sign-out: revoke the session's family and clear its cookies (CSRF-checked
    while the session is live)."""
    token = request.cookies.get(session_cookie_name(state.settings))
    found = await accounts.session_user(session, token) if token else None
    if token and isinstance(found, tuple):
        check_csrf(request, state.settings, state.keys.csrf_secret, str(found[1]))
        await accounts.logout(session, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, state.settings)
    return response


@router.post(
    "/auth/refresh",
    response_model=TokenPair,
    responses={
        **error_responses(*BODY_ERRORS, 429),
        401: {
            **error_responses(401)[401],
            "description": "Unknown, expired, revoked or reused refresh token",
        },
    },
)
async def refresh(
    data: RefreshRequest,
    request: Request,
    session: SessionDep,
    state: StateDep,
    guesses: GuessesDep,
) -> TokenPair | JSONResponse:
    """A new token pair for a refresh token (which is then used up). Unknown refresh
    tokens count as guesses from the calling address (429 past the limit)."""
    pair = await accounts.refresh(
        session, data.refresh_token, tokens=token_settings(state), ip=client_ip(request)
    )
    if isinstance(pair, Refusal):
        await guesses.count(pair)
        # Returned, not raised: a reuse revoked the token's family and that must commit.
        return error_response(
            status.HTTP_401_UNAUTHORIZED,
            "invalid_refresh_token",
            "the refresh token is invalid, expired, revoked or already used",
        )
    return pair


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(*BODY_ERRORS)
)
async def logout(data: RefreshRequest, session: SessionDep) -> Response:
    await accounts.logout(session, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*BODY_ERRORS, *AUTH_ERRORS, 409, 429),
)
async def change_password(
    data: PasswordChange,
    user: CurrentUser,
    session: SessionDep,
    limiter: RateLimiterDep,
    actor: PrincipalActor,
    state: StateDep,
) -> Response:
    """Change your password; every session (refresh token) you had is ended, and a notice
    is mailed to your address."""
    await enforce_rate_limit(limiter, str(user.id), PASSWORD_CHANGES_PER_USER, name="password")
    await workspaces.change_password(session, user, data, actor=actor, settings=state.settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", response_model=UserOut, responses=error_responses(*AUTH_ERRORS))
async def me(user: AccountUser, session: SessionDep) -> UserOut:
    rows = await workspaces.memberships(session, user.id)
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        created_at=user.created_at,
        email_verified_at=user.email_verified_at,
        two_factor_enabled=twofactor.enabled(user),
        marketing_opt_in=user.marketing_opt_in,
        memberships=[
            MembershipOut(
                workspace_id=workspace.id,
                workspace_name=workspace.name,
                personal=workspace.personal,
                role=membership.role,
            )
            for membership, workspace in rows
        ],
    )


@router.get("/v1/whoami", responses=error_responses(*AUTH_ERRORS))
async def whoami(principal: CurrentPrincipal) -> dict[str, object]:
    """The workspace and rights of the caller (user or API key): a cheap auth check."""
    return {
        "workspace_id": str(principal.workspace_id),
        "role": str(principal.role),
        "can_write": principal.can_write,
        "actor": principal.actor,
    }


RESET_REQUESTED = Message(
    message="if this address has an account, a link to reset its password is on its way"
)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=error_responses(*BODY_ERRORS, 429),
    dependencies=[Depends(rate_limit(PASSWORD_RESETS_PER_IP, name="password-reset-ip"))],
)
async def request_password_reset(
    data: PasswordResetRequest,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: ClientActor,
) -> Message:
    """Mail a single-use link to set a new password (valid ``privacy.reset_minutes``).
    The answer is the same whether or not the address has an account, and comes as soon:
    the account is looked up, and the link made and mailed, after it has been sent."""
    await enforce_rate_limit(
        limiter, data.email, PASSWORD_RESETS_PER_ADDRESS, name="password-reset-address"
    )
    recovery.queue_password_reset(
        session,
        data.email,
        actor=actor,
        settings=state.settings,
        session_factory=state.runtime.session_factory,
    )
    return RESET_REQUESTED


@router.post(
    "/auth/password-reset/confirm",
    response_model=Message,
    responses=error_responses(*BODY_ERRORS, 429),
    dependencies=[Depends(rate_limit(PASSWORD_RESETS_PER_IP, name="password-reset-confirm"))],
)
async def confirm_password_reset(
    data: PasswordResetConfirm, session: SessionDep, state: StateDep, actor: ClientActor
) -> Message:
    """Set a new password with the token of a reset link (400 ``invalid_token`` if it is
    unknown, expired or used; 422 ``weak_password``). Every session of the account ends
    and a change notice is mailed to it."""
    await recovery.reset_password(
        session, data.token, data.new_password, actor=actor, settings=state.settings
    )
    return Message(message="password changed: sign in with the new one")


@router.post(
    "/auth/verify-email",
    response_model=Message,
    responses=error_responses(*BODY_ERRORS, 429),
    dependencies=[Depends(rate_limit(LOGIN_PER_IP, name="verify-email"))],
)
async def verify_email(data: EmailTokenSubmit, session: SessionDep, actor: ClientActor) -> Message:
    """Confirm an account's address with the token of the link mailed at sign-up (400
    ``invalid_token`` if it is unknown, expired or used)."""
    user = await recovery.verify_email(session, data.token, actor=actor)
    return Message(message=f"{user.email} is confirmed")


@router.post(
    "/auth/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses=error_responses(*AUTH_ERRORS, 409),
)
async def resend_verification(
    user: CurrentUser, session: SessionDep, state: StateDep, limiter: RateLimiterDep
) -> Message:
    """Mail a new link confirming your address (earlier links stop working); 409 if it is
    already confirmed."""
    await enforce_rate_limit(
        limiter, str(user.id), VERIFICATION_MAILS_PER_USER, name="verify-email-resend"
    )
    await recovery.resend_verification(session, user, settings=state.settings)
    return Message(message=f"a new confirmation link is on its way to {user.email}")
