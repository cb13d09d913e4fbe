"""HTTP routes of the caller's own account security and consents: two-factor
authentication, sessions (sign-ins) and their revocation, terms/privacy acceptance and
the marketing opt-in.

These routes stay reachable for a user without 2FA in a workspace that requires it (they
are how such a user turns it on); an API key cannot use them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, StrictBool

from echo_ai.accounts import consent
from echo_ai.accounts import security as account_security
from echo_ai.api.auth import (
    AccountActor,
    AccountUser,
    CurrentPrincipal,
    Forbidden,
    ManagerPrincipal,
    PrincipalActor,
)
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses, refusal_kept
from echo_ai.api.limits import count_confirmation
from echo_ai.api.session import session_cookie_name
from echo_ai.auth import service as accounts
from echo_ai.auth import twofactor
from echo_ai.auth.schemas import MAX_CODE_LENGTH, Password
from echo_ai.db import utcnow
from echo_ai.errors import AppError, NotFound
from echo_ai.security.api_keys import KEY_PREFIX
from echo_ai.security.rate_limit import RateLimiterDep
from echo_ai.security.tokens import InvalidToken
from echo_ai.text import SingleLine
from echo_ai.workspaces.models import Role, Workspace

router = APIRouter(tags=["account security"], responses=error_responses(*AUTH_ERRORS, 422))

Code = Annotated[str, SingleLine(min_length=1, max_length=MAX_CODE_LENGTH)]
Version = Annotated[str, SingleLine(min_length=1, max_length=40)]


class TwoFactorStatus(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


class TwoFactorEnrolment(BaseModel):
    secret: str
    """The base32 secret, for apps that cannot scan a QR code."""
    otpauth_uri: str
    """``otpauth://totp/...``: what the QR code holds."""


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password
    """The account's current password."""


class PasswordAndCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password
    code: Code
    """A current code of the authenticator app, or a recovery code (used up)."""


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]
    """Shown once: each signs in once in place of a code. Keep them somewhere safe."""


class TwoFactorOn(RecoveryCodes):
    sessions_ended: int
    """Your other sessions (other sign-ins, browsers), ended as 2FA was turned on: they
    must sign in again, with a code. The session that turned it on stays."""


class SessionOut(BaseModel):
    id: uuid.UUID
    device: str
    """Parsed simply from the user agent ("Chrome on Linux")."""
    user_agent: str | None
    ip: str | None
    """The latest address the session was used from (no geolocation: an address only)."""
    created_at: datetime
    last_used_at: datetime
    """The sign-in or latest token refresh."""
    expires_at: datetime
    current: bool
    """The session making this request."""


class RevokeAll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_current: StrictBool = True
    """Keep the session making this request (sign out everywhere else)."""


class Revoked(BaseModel):
    revoked: int


class ConsentAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms_version: Version | None = None
    privacy_version: Version | None = None
    """The versions read (409 unless they are the current ones); omitted: the current."""


class MarketingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opt_in: StrictBool


class ConsentOut(BaseModel):
    kind: str
    """``terms``, ``privacy`` or ``marketing``."""
    version: str | None
    granted: bool
    created_at: datetime
    ip: str | None
    user_agent: str | None


class ConsentState(BaseModel):
    terms_version: str
    privacy_version: str
    """The versions in force."""
    consent_required: bool
    """The user has not accepted the versions in force yet."""
    marketing_opt_in: bool
    history: list[ConsentOut]


class WorkspaceSecurity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_2fa: StrictBool


async def _status(session: SessionDep, user: AccountUser) -> TwoFactorStatus:
    return TwoFactorStatus(
        enabled=twofactor.enabled(user),
        enabled_at=user.totp_enabled_at,
        recovery_codes_left=await twofactor.recovery_codes_left(session, user),
    )


@router.get("/v1/account/2fa", response_model=TwoFactorStatus)
async def two_factor_status(user: AccountUser, session: SessionDep) -> TwoFactorStatus:
    """Whether two-factor authentication is on, and how many recovery codes are left."""
    return await _status(session, user)


@router.post(
    "/v1/account/2fa",
    response_model=TwoFactorEnrolment,
    responses=error_responses(*BODY_ERRORS, 409, 429),
)
async def begin_two_factor(
    data: PasswordIn,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    limiter: RateLimiterDep,
) -> TwoFactorEnrolment | Response:
    """Start turning 2FA on: needs the password (401 ``invalid_credentials`` otherwise;
    failures are audited, and attempts limited per account: 429). The answer is a new
    secret for an authenticator app (with its ``otpauth://`` URI, for a QR code); 2FA is
    on once confirmed with a first code."""
    await count_confirmation(limiter, user)
    try:
        enrolment = await account_security.begin_two_factor(
            session, user, password=data.password, keys=state.keys, actor=actor
        )
    except AppError as refused:
        return refusal_kept(refused)
    return TwoFactorEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post(
    "/v1/account/2fa/confirm",
    response_model=TwoFactorOn,
    responses=error_responses(*BODY_ERRORS, 409),
)
async def confirm_two_factor(
    data: CodeIn,
    request: Request,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
) -> TwoFactorOn:
    """Turn 2FA on with a first code from the app (401 ``invalid_second_factor`` if it
    is wrong); the answer holds the recovery codes, shown this once. Your other sessions
    end (``sessions_ended``: they sign in again, with a code); this one stays."""
    done = await account_security.confirm_two_factor(
        session,
        user,
        data.code,
        keys=state.keys,
        now=utcnow(),
        actor=actor,
        settings=state.settings,
        keep=await current_session_id(request, state, session),
    )
    return TwoFactorOn(recovery_codes=done.recovery_codes, sessions_ended=done.sessions_ended)


@router.delete(
    "/v1/account/2fa",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*BODY_ERRORS, 409, 429),
)
async def disable_two_factor(
    data: PasswordAndCode,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    limiter: RateLimiterDep,
) -> Response:
    """Turn 2FA off: needs the password and a current or recovery code (401 otherwise;
    failures are audited, and attempts limited per account: 429)."""
    await count_confirmation(limiter, user)
    try:
        await account_security.disable_two_factor(
            session,
            user,
            password=data.password,
            code=data.code,
            keys=state.keys,
            now=utcnow(),
            actor=actor,
            settings=state.settings,
        )
    except AppError as refused:
        return refusal_kept(refused)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/account/2fa/recovery-codes",
    response_model=RecoveryCodes,
    responses=error_responses(*BODY_ERRORS, 409, 429),
)
async def regenerate_recovery_codes(
    data: PasswordAndCode,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    limiter: RateLimiterDep,
) -> RecoveryCodes | Response:
    """New recovery codes (the old ones stop working): needs the password and a code
    (failures are audited, and attempts limited per account: 429)."""
    await count_confirmation(limiter, user)
    try:
        codes = await account_security.regenerate_recovery_codes(
            session,
            user,
            password=data.password,
            code=data.code,
            keys=state.keys,
            now=utcnow(),
            actor=actor,
            settings=state.settings,
        )
    except AppError as refused:
        return refusal_kept(refused)
    return RecoveryCodes(recovery_codes=codes)


async def current_session_id(
    request: Request, state: StateDep, session: SessionDep
) -> uuid.UUID | None:
    """The session (refresh-token family) of the request: the ``sid`` claim of a bearer
    access token, or the browser session cookie's family."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        if token.strip().startswith(KEY_PREFIX):
            return None
        try:
            claims = state.signer.verify(token.strip())
            return uuid.UUID(str(claims.extra.get(accounts.SESSION_CLAIM)))
        except (InvalidToken, ValueError):
            return None
    cookie = request.cookies.get(session_cookie_name(state.settings))
    if cookie:
        found = await accounts.session_user(session, cookie)
        if isinstance(found, tuple):
            return found[1]
    return None


@router.get("/v1/account/sessions", response_model=list[SessionOut])
async def list_sessions(
    request: Request, user: AccountUser, session: SessionDep, state: StateDep
) -> list[SessionOut]:
    """Your live sessions (each sign-in, API or browser), most recently used first."""
    current = await current_session_id(request, state, session)
    found = await account_security.list_sessions(session, user, now=utcnow())
    return [
        SessionOut(
            id=info.id,
            device=info.device,
            user_agent=info.user_agent,
            ip=info.ip,
            created_at=info.created_at,
            last_used_at=info.last_used_at,
            expires_at=info.expires_at,
            current=info.id == current,
        )
        for info in found
    ]


@router.delete("/v1/account/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_session(
    session_id: uuid.UUID, user: AccountUser, session: SessionDep, actor: AccountActor
) -> Response:
    """End one session at once: its refresh token and browser cookie stop working (an
    access token already issued to it lives out its few minutes)."""
    await account_security.revoke_session(session, user, session_id, now=utcnow(), actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/account/sessions/revoke-all",
    response_model=Revoked,
    responses=error_responses(*BODY_ERRORS),
)
async def revoke_all_sessions(
    request: Request,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    data: RevokeAll | None = None,
) -> Revoked:
    """Sign out everywhere: end every session, but the current one unless
    ``keep_current`` is false."""
    keep = None
    if data is None or data.keep_current:
        keep = await current_session_id(request, state, session)
    count = await account_security.revoke_all_sessions(
        session, user, now=utcnow(), actor=actor, keep=keep
    )
    return Revoked(revoked=count)


async def _consent_state(session: SessionDep, user: AccountUser, state: StateDep) -> ConsentState:
    privacy = state.settings.privacy
    return ConsentState(
        terms_version=privacy.terms_version,
        privacy_version=privacy.privacy_version,
        consent_required=await consent.needed(session, user, privacy=privacy) is not None,
        marketing_opt_in=user.marketing_opt_in,
        history=[
            ConsentOut(
                kind=row.kind,
                version=row.version,
                granted=row.granted,
                created_at=row.created_at,
                ip=row.ip,
                user_agent=row.user_agent,
            )
            for row in await consent.history(session, user)
        ],
    )


@router.get("/v1/account/consents", response_model=ConsentState)
async def consents(user: AccountUser, session: SessionDep, state: StateDep) -> ConsentState:
    """The versions in force, whether you must accept them, and every consent you gave or
    withdrew (oldest first)."""
    return await _consent_state(session, user, state)


@router.post(
    "/v1/account/consents",
    response_model=ConsentState,
    responses=error_responses(*BODY_ERRORS, 409),
)
async def accept_consents(
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    data: ConsentAccept | None = None,
) -> ConsentState:
    """Accept the terms and privacy policy in force (asked again after a new version)."""
    data = data or ConsentAccept()
    await consent.accept(
        session,
        user,
        privacy=state.settings.privacy,
        now=utcnow(),
        actor=actor,
        terms_version=data.terms_version,
        privacy_version=data.privacy_version,
    )
    return await _consent_state(session, user, state)


@router.put(
    "/v1/account/marketing", response_model=ConsentState, responses=error_responses(*BODY_ERRORS)
)
async def set_marketing(
    data: MarketingIn, user: AccountUser, session: SessionDep, state: StateDep, actor: AccountActor
) -> ConsentState:
    """Opt in to product news by e-mail, or withdraw (each change recorded)."""
    await consent.set_marketing(session, user, data.opt_in, now=utcnow(), actor=actor)
    return await _consent_state(session, user, state)


@router.get("/v1/workspace/security", response_model=WorkspaceSecurity)
async def workspace_security(principal: CurrentPrincipal, session: SessionDep) -> WorkspaceSecurity:
    """The current workspace's security settings."""
    workspace = await session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    return WorkspaceSecurity(require_2fa=workspace.require_2fa)


@router.put(
    "/v1/workspace/security",
    response_model=WorkspaceSecurity,
    responses=error_responses(*BODY_ERRORS, 409),
)
async def set_workspace_security(
    data: WorkspaceSecurity,
    principal: ManagerPrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> WorkspaceSecurity:
    """Owners only: require two-factor authentication of every member of the current
    workspace (members without it get 403 ``two_factor_required`` on its API and pages;
    API keys keep working). Any change needs 2FA on your own account (409)."""
    if principal.role != Role.OWNER or principal.user is None:
        raise Forbidden("only the workspace's owners can change this")
    workspace = await session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    await account_security.set_workspace_requirement(
        session, workspace, principal.user, data.require_2fa, actor=actor
    )
    return WorkspaceSecurity(require_2fa=workspace.require_2fa)
