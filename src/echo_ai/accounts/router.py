"""HTTP routes of accounts and API keys: parse, call the service, shape the response."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse

from echo_ai.accounts import api_keys
from echo_ai.accounts import service as accounts
from echo_ai.accounts.models import ApiKey
from echo_ai.accounts.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    Credentials,
    MembershipOut,
    Message,
    PasswordChange,
    RefreshRequest,
    Registration,
    TokenPair,
    UserOut,
)
from echo_ai.api.auth import CurrentPrincipal, CurrentUser, ManagerPrincipal
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import error_response
from echo_ai.api.state import ServiceState
from echo_ai.security.rate_limit import RateLimiterDep, enforce_rate_limit, rate_limit

router = APIRouter(tags=["accounts"])

REGISTER_PER_IP = "10/hour"
LOGIN_PER_IP = "20/minute"
LOGIN_PER_ACCOUNT = "10/15 minutes"
"""Per account as well as per IP: spreading guesses over many addresses does not help."""
PASSWORD_CHANGES_PER_USER = "5/hour"  # noqa: S105 - a rate, not a password
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
    dependencies=[Depends(rate_limit(REGISTER_PER_IP, name="register"))],
)
async def register(data: Registration, session: SessionDep) -> Message:
    """Create an account and its personal workspace. The answer is the same whether or
    not the email already had an account, so it cannot be used to discover accounts."""
    await accounts.register(session, data)
    return REGISTERED


@router.post(
    "/auth/login",
    response_model=TokenPair,
    dependencies=[Depends(rate_limit(LOGIN_PER_IP, name="login-ip"))],
)
async def login(
    data: Credentials, session: SessionDep, state: StateDep, limiter: RateLimiterDep
) -> TokenPair:
    await enforce_rate_limit(limiter, data.email, LOGIN_PER_ACCOUNT, name="login-account")
    user = await accounts.authenticate(session, data)
    return await accounts.issue_tokens(session, user, tokens=_token_settings(state))


@router.post(
    "/auth/refresh",
    response_model=TokenPair,
    responses={401: {"description": "unknown, expired, revoked or reused refresh token"}},
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


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshRequest, session: SessionDep) -> Response:
    await accounts.logout(session, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    data: PasswordChange, user: CurrentUser, session: SessionDep, limiter: RateLimiterDep
) -> Response:
    """Change your password; every session (refresh token) you had is ended."""
    await enforce_rate_limit(limiter, str(user.id), PASSWORD_CHANGES_PER_USER, name="password")
    await accounts.change_password(session, user, data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", response_model=UserOut)
async def me(user: CurrentUser, session: SessionDep) -> UserOut:
    rows = await accounts.memberships(session, user.id)
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


@router.post("/v1/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
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
    return ApiKeyCreated(**_key_out(key).model_dump(), key=token)


@router.get("/v1/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(principal: ManagerPrincipal, session: SessionDep) -> list[ApiKeyOut]:
    return [_key_out(key) for key in await api_keys.list_keys(session, principal.workspace_id)]


@router.delete("/v1/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(
    key_id: uuid.UUID, principal: ManagerPrincipal, session: SessionDep
) -> Response:
    await api_keys.revoke(session, principal.workspace_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/whoami")
async def whoami(principal: CurrentPrincipal) -> dict[str, object]:
    """The workspace and rights of the caller (user or API key): a cheap auth check."""
    return {
        "workspace_id": str(principal.workspace_id),
        "role": str(principal.role),
        "can_write": principal.can_write,
        "actor": principal.actor,
    }
