"""Who is calling: a user (JWT access token) or an API key, and in which workspace.

One principal for both, chosen by the bearer token's prefix. Without an
``Authorization`` header, a browser session cookie (see :mod:`echo_ai.api.session`)
authenticates a user instead, and then unsafe requests must pass the CSRF checks;
requests with a header never look at cookies. A user picks a workspace
with ``X-Workspace-ID`` (default: their personal one); an API key belongs to one and acts
with at most its creator's current role there. A workspace the caller is not a member of
is answered 404, as if it did not exist.

An address that has sent too many credentials we never issued is answered 429 before its
credentials are even looked at (:mod:`echo_ai.security.guesses`); each refused credential
is counted here if it was such a guess.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select

from echo_ai.accounts.security import check_workspace_requirement
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.session import check_csrf, session_cookie_name
from echo_ai.api_keys import service as api_keys
from echo_ai.api_keys.models import ApiKey
from echo_ai.auth import service as accounts
from echo_ai.auth.models import User
from echo_ai.billing.plans import api_requests_per_minute
from echo_ai.errors import AppError, NotFound
from echo_ai.observability import bind_context
from echo_ai.privacy.audit import Actor, ActorKind
from echo_ai.security.api_keys import KEY_PREFIX
from echo_ai.security.credentials import Refusal
from echo_ai.security.guesses import ClientGuesses
from echo_ai.security.rate_limit import RateLimiterDep, client_ip, enforce_rate_limit
from echo_ai.security.tokens import ExpiredToken, InvalidToken
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Membership, Role, Workspace


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    headers: Mapping[str, str] = {"WWW-Authenticate": "Bearer"}

    def __init__(self, message: str, *, refusal: Refusal | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        """Why a presented credential was refused (None: none was presented)."""


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    workspace_id: uuid.UUID
    role: Role
    """A user's role in the workspace; for an API key, its scopes narrowed to its
    creator's current role."""
    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def can_write(self) -> bool:
        return self.role.can_write

    @property
    def actor(self) -> str:
        if self.user is not None:
            return f"user:{self.user.id}"
        assert self.api_key is not None
        return f"api_key:{self.api_key.id}"


SEND_CREDENTIALS = "send `Authorization: Bearer <access token or API key>`"
INVALID_TOKEN = "the access token is invalid or has expired"


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(SEND_CREDENTIALS)
    return token.strip()


async def _user_from_token(state: StateDep, session: SessionDep, token: str) -> User:
    try:
        claims = state.signer.verify(token)
        user_id = uuid.UUID(claims.subject)
    except ExpiredToken:
        raise NotAuthenticated(INVALID_TOKEN, refusal=Refusal.ENDED) from None
    except (InvalidToken, ValueError):
        raise NotAuthenticated(INVALID_TOKEN, refusal=Refusal.UNKNOWN) from None
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated(INVALID_TOKEN, refusal=Refusal.ENDED)
    return user


async def _user_from_cookie(request: Request, state: StateDep, session: SessionDep) -> User:
    """The user of the browser session cookie, after the CSRF checks for unsafe methods."""
    cookie = request.cookies.get(session_cookie_name(state.settings))
    if not cookie:
        raise NotAuthenticated(SEND_CREDENTIALS)
    found = await accounts.session_user(session, cookie)
    if isinstance(found, Refusal):
        raise NotAuthenticated(SEND_CREDENTIALS, refusal=found)
    user, family_id = found
    check_csrf(request, state.settings, state.keys.csrf_secret, str(family_id))
    return user


def client_guesses(request: Request, state: StateDep, limiter: RateLimiterDep) -> ClientGuesses:
    """The calling address's credential guesses (see :mod:`echo_ai.security.guesses`)."""
    return ClientGuesses(limiter, client_ip(request), state.settings.auth.guesses_per_client)


async def refuse_guessing_clients(
    guesses: Annotated[ClientGuesses, Depends(client_guesses)],
) -> ClientGuesses:
    """429 for an address past its guesses, before any credential it sends is checked."""
    await guesses.refuse_if_exhausted()
    return guesses


GuessesDep = Annotated[ClientGuesses, Depends(refuse_guessing_clients)]


async def _authenticate(
    request: Request,
    state: StateDep,
    session: SessionDep,
    limiter: RateLimiterDep,
    guesses: ClientGuesses,
    authorization: str | None,
    x_workspace_id: str | None,
    *,
    enforce_2fa: bool,
) -> Principal:
    try:
        if authorization is None:
            user = await _user_from_cookie(request, state, session)
            principal = await _user_principal(session, user, x_workspace_id, enforce_2fa)
        else:
            principal = await _resolve(state, session, authorization, x_workspace_id, enforce_2fa)
    except NotAuthenticated as refused:
        if refused.refusal is not None:
            await guesses.count(refused.refusal)
        raise
    bind_context(workspace_id=principal.workspace_id)  # on the request's log lines
    plan = await workspaces.plan_of(session, principal.workspace_id)
    limit = f"{api_requests_per_minute(plan, state.settings)}/minute"
    await enforce_rate_limit(limiter, str(principal.workspace_id), limit, name="workspace-api")
    return principal


async def get_principal(
    request: Request,
    state: StateDep,
    session: SessionDep,
    limiter: RateLimiterDep,
    guesses: GuessesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_workspace_id: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller; a user without 2FA in a workspace that requires it is refused (403
    ``two_factor_required``). API keys are not: a key keeps working whoever made it."""
    return await _authenticate(
        request, state, session, limiter, guesses, authorization, x_workspace_id, enforce_2fa=True
    )


async def get_account_principal(
    request: Request,
    state: StateDep,
    session: SessionDep,
    limiter: RateLimiterDep,
    guesses: GuessesDep,
    authorization: Annotated[str | None, Header()] = None,
    x_workspace_id: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller, for the routes of their own account (2FA setup, sessions, consents):
    reachable without 2FA even in a workspace that requires it."""
    return await _authenticate(
        request, state, session, limiter, guesses, authorization, x_workspace_id, enforce_2fa=False
    )


async def _resolve(
    state: StateDep,
    session: SessionDep,
    authorization: str | None,
    x_workspace_id: str | None,
    enforce_2fa: bool = True,
) -> Principal:
    token = _bearer(authorization)
    if token.startswith(KEY_PREFIX):
        grant = await api_keys.authenticate(session, token, peppers=state.keys.peppers())
        if isinstance(grant, Refusal):
            raise NotAuthenticated("the API key is invalid, expired or revoked", refusal=grant)
        if x_workspace_id is not None and _workspace_id(x_workspace_id) != grant.key.workspace_id:
            # A key acts in its own workspace only: a client that names another one must
            # not act on the key's instead without knowing.
            raise NotFound("no such workspace (an API key acts in its own workspace only)")
        return Principal(workspace_id=grant.key.workspace_id, role=grant.role, api_key=grant.key)
    user = await _user_from_token(state, session, token)
    return await _user_principal(session, user, x_workspace_id, enforce_2fa)


def _workspace_id(header: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(header)
    except ValueError:
        return None


async def _user_principal(
    session: SessionDep, user: User, x_workspace_id: str | None, enforce_2fa: bool = True
) -> Principal:
    query = (
        select(Membership, Workspace)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.user_id == user.id)
    )
    if x_workspace_id is None:
        query = query.where(Workspace.personal.is_(True))
    else:
        named = _workspace_id(x_workspace_id)
        if named is None:
            raise NotFound("no such workspace")
        query = query.where(Membership.workspace_id == named)
    found = (await session.execute(query.limit(1))).first()
    if found is None:
        raise NotFound("no such workspace")
    membership, workspace = found
    if enforce_2fa:
        check_workspace_requirement(workspace, user)
    return Principal(workspace_id=membership.workspace_id, role=membership.role, user=user)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
AccountPrincipal = Annotated[Principal, Depends(get_account_principal)]


def require_write(principal: CurrentPrincipal) -> Principal:
    if not principal.can_write:
        raise Forbidden("this needs write access (your role or key scope is read-only)")
    return principal


def require_manager(principal: CurrentPrincipal) -> Principal:
    """Owners and admins, signed in as themselves (an API key cannot manage keys)."""
    if principal.user is None or not principal.role.can_manage:
        raise Forbidden("only workspace owners and admins can do this")
    return principal


def require_user(principal: CurrentPrincipal) -> User:
    if principal.user is None:
        raise Forbidden("sign in as a user for this (an API key cannot)")
    return principal.user


def require_account_user(principal: AccountPrincipal) -> User:
    """The signed-in user, for their own account's routes (see
    :func:`get_account_principal`)."""
    if principal.user is None:
        raise Forbidden("sign in as a user for this (an API key cannot)")
    return principal.user


WritePrincipal = Annotated[Principal, Depends(require_write)]
ManagerPrincipal = Annotated[Principal, Depends(require_manager)]
CurrentUser = Annotated[User, Depends(require_user)]
AccountUser = Annotated[User, Depends(require_account_user)]


def client_actor(request: Request) -> Actor:
    """Where a request comes from, for the audit log (no principal yet: login, register)."""
    return Actor(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def principal_actor(request: Request, principal: CurrentPrincipal) -> Actor:
    """The authenticated caller, for the audit log."""
    return replace(
        client_actor(request),
        kind=ActorKind.USER if principal.user else ActorKind.API_KEY,
        user_id=principal.user.id if principal.user else None,
        api_key_id=principal.api_key.id if principal.api_key else None,
    )


def account_actor(request: Request, principal: AccountPrincipal) -> Actor:
    """:func:`principal_actor` for the routes of the caller's own account."""
    return principal_actor(request, principal)


ClientActor = Annotated[Actor, Depends(client_actor)]
AccountActor = Annotated[Actor, Depends(account_actor)]
PrincipalActor = Annotated[Actor, Depends(principal_actor)]
