"""HTTP routes of accounts and API keys: parse, call the service, shape the response."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from echo_ai.api.auth import (
    ClientActor,
    CurrentPrincipal,
    CurrentUser,
    ManagerPrincipal,
    PrincipalActor,
)
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_response, error_responses
from echo_ai.api.session import (
    CsrfToken,
    check_csrf,
    clear_session_cookies,
    session_cookie_name,
    set_session_cookies,
)
from echo_ai.api.state import ServiceState
from echo_ai.api_keys import service as api_keys
from echo_ai.api_keys.models import ApiKey
from echo_ai.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from echo_ai.auth import service as accounts
from echo_ai.auth.models import User
from echo_ai.auth.schemas import (
    Credentials,
    Message,
    PasswordChange,
    RefreshRequest,
    Registration,
    TokenPair,
)
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action
from echo_ai.security.csrf import issue_csrf_token
from echo_ai.security.rate_limit import RateLimiterDep, enforce_rate_limit, rate_limit
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.schemas import MembershipOut, UserOut

router = APIRouter(tags=["accounts"], responses=error_responses(422))

REGISTER_PER_IP = "10/hour"
LOGIN_PER_IP = "20/minute"
LOGIN_PER_ACCOUNT = "10/15 minutes"
"""Per account as well as per IP: spreading guesses over many addresses does not help."""
PASSWORD_CHANGES_PER_USER = "5/hour"
KEYS_CREATED_PER_WORKSPACE = "20/hour"

REGISTERED = Message(message="registered: if this email had no account, you can now log in")


def _token_settings(state: ServiceState) -> accounts.TokenSettings:
    auth = state.settings.auth
    return accounts.TokenSettings(
        signer=state.signer,
        refresh_ttl=timedelta(days=auth.refresh_token_days),
        access_ttl=timedelta(minutes=auth.access_token_minutes),
    )


def _key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(key, from_attributes=True)


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=Message,
    responses=error_responses(*BODY_ERRORS, 429),
    dependencies=[Depends(rate_limit(REGISTER_PER_IP, name="register"))],
)
async def register(data: Registration, session: SessionDep, actor: ClientActor) -> Message:
    """Create an account and its personal workspace. The answer is the same whether or
    not the email already had an account, so it cannot be used to discover accounts."""
    user = await workspaces.register(session, data)
    if user is not None:
        await audit.record(
            session,
            Action.REGISTERED,
            actor=replace(actor, user_id=user.id),
            workspace_id=await workspaces.personal_workspace_id(session, user.email),
            target_type="user",
            target_id=user.id,
        )
    return REGISTERED


async def _sign_in(
    data: Credentials, session: SessionDep, limiter: RateLimiterDep, actor: ClientActor
) -> User | JSONResponse:
    """Check the credentials (rate-limited per account) and audit the attempt; the user,
    or the error response to return (not raise, so that the audit record commits)."""
    await enforce_rate_limit(limiter, data.email, LOGIN_PER_ACCOUNT, name="login-account")
    try:
        user = await accounts.authenticate(session, data)
    except accounts.InvalidCredentials as error:
        # Returned, not raised, so that the audit record commits.
        await audit.record(
            session,
            Action.LOGIN_FAILED,
            actor=actor,
            workspace_id=await workspaces.personal_workspace_id(session, data.email),
        )
        return error_response(error.status_code, error.code, error.message)
    await audit.record(
        session,
        Action.LOGIN_SUCCEEDED,
        actor=replace(actor, user_id=user.id),
        workspace_id=await workspaces.personal_workspace_id(session, user.email),
    )
    return user


@router.post(
    "/auth/login",
    response_model=TokenPair,
    responses=error_responses(*BODY_ERRORS, 401, 429),
    dependencies=[Depends(rate_limit(LOGIN_PER_IP, name="login-ip"))],
)
async def login(
    data: Credentials,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: ClientActor,
) -> TokenPair | JSONResponse:
    user = await _sign_in(data, session, limiter, actor)
    if isinstance(user, JSONResponse):
        return user
    return await accounts.issue_tokens(session, user, tokens=_token_settings(state))


@router.post(
    "/auth/session",
    response_model=CsrfToken,
    responses=error_responses(*BODY_ERRORS, 401, 429),
    dependencies=[Depends(rate_limit(LOGIN_PER_IP, name="login-ip"))],
)
async def start_session(
    data: Credentials,
    response: Response,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: ClientActor,
) -> CsrfToken | JSONResponse:
    """Browser sign-in: the session goes in an HttpOnly cookie (a refresh token of a new
    family, revocable), the CSRF token bound to it in the body and the ``echo_csrf``
    cookie. Unsafe requests made with the cookie must echo it in ``X-CSRF-Token``."""
    user = await _sign_in(data, session, limiter, actor)
    if isinstance(user, JSONResponse):
        return user
    family_id = uuid.uuid4()
    pair = await accounts.issue_tokens(
        session, user, tokens=_token_settings(state), family_id=family_id
    )
    csrf_token = issue_csrf_token(str(family_id), state.keys.csrf_secret)
    set_session_cookies(response, state.settings, pair.refresh_token, csrf_token)
    return CsrfToken(csrf_token=csrf_token)


@router.delete(
    "/auth/session", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403)
)
async def end_session(request: Request, session: SessionDep, state: StateDep) -> Response:
    """Browser sign-out: revoke the session's family and clear its cookies (CSRF-checked
    while the session is live)."""
    token = request.cookies.get(session_cookie_name(state.settings))
    found = await accounts.session_user(session, token) if token else None
    if token and found is not None:
        check_csrf(request, state.settings, state.keys.csrf_secret, str(found[1]))
        await accounts.logout(session, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookies(response, state.settings)
    return response


@router.post(
    "/auth/refresh",
    response_model=TokenPair,
    responses={
        **error_responses(*BODY_ERRORS),
        401: {
            **error_responses(401)[401],
            "description": "Unknown, expired, revoked or reused refresh token",
        },
    },
)
async def refresh(
    data: RefreshRequest, session: SessionDep, state: StateDep
) -> TokenPair | JSONResponse:
    pair = await accounts.refresh(session, data.refresh_token, tokens=_token_settings(state))
    if pair is None:
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
) -> Response:
    """Change your password; every session (refresh token) you had is ended."""
    await enforce_rate_limit(limiter, str(user.id), PASSWORD_CHANGES_PER_USER, name="password")
    await accounts.change_password(session, user, data)
    await audit.record(
        session,
        Action.PASSWORD_CHANGED,
        actor=actor,
        workspace_id=await workspaces.personal_workspace_id(session, user.email),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", response_model=UserOut, responses=error_responses(*AUTH_ERRORS))
async def me(user: CurrentUser, session: SessionDep) -> UserOut:
    rows = await workspaces.memberships(session, user.id)
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        created_at=user.created_at,
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


@router.post(
    "/v1/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(*BODY_ERRORS, *AUTH_ERRORS, 429),
)
async def create_api_key(
    data: ApiKeyCreate,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: PrincipalActor,
) -> ApiKeyCreated:
    """Create a key for the workspace. The key is in this response only: store it now."""
    assert principal.user is not None
    await enforce_rate_limit(
        limiter, str(principal.workspace_id), KEYS_CREATED_PER_WORKSPACE, name="api-key"
    )
    key, token = await api_keys.create(
        session,
        principal.workspace_id,
        data,
        created_by=principal.user.id,
        pepper=state.keys.peppers()[0],
    )
    await audit.record(
        session,
        Action.API_KEY_CREATED,
        actor=actor,
        workspace_id=principal.workspace_id,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "scopes": key.scopes},
    )
    return ApiKeyCreated(**_key_out(key).model_dump(), key=token)


@router.get("/v1/api-keys", response_model=list[ApiKeyOut], responses=error_responses(*AUTH_ERRORS))
async def list_api_keys(principal: ManagerPrincipal, session: SessionDep) -> list[ApiKeyOut]:
    return [_key_out(key) for key in await api_keys.list_keys(session, principal.workspace_id)]


@router.delete(
    "/v1/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*AUTH_ERRORS),
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: ManagerPrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    await api_keys.revoke(session, principal.workspace_id, key_id)
    await audit.record(
        session,
        Action.API_KEY_REVOKED,
        actor=actor,
        workspace_id=principal.workspace_id,
        target_type="api_key",
        target_id=key_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/whoami", responses=error_responses(*AUTH_ERRORS))
async def whoami(principal: CurrentPrincipal) -> dict[str, object]:
    """The workspace and rights of the caller (user or API key): a cheap auth check."""
    return {
        "workspace_id": str(principal.workspace_id),
        "role": str(principal.role),
        "can_write": principal.can_write,
        "actor": principal.actor,
    }
