"""Account security use cases: two-factor authentication (on top of
:mod:`echo_ai.auth.twofactor`), a workspace's 2FA requirement and the user's sessions
(:mod:`echo_ai.auth.sessions`), each audited.

Setting 2FA up needs the password; turning it off and new recovery codes need the password
and a current second factor: someone holding only a stolen session can neither put their
own authenticator on the account nor weaken it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth import sessions as auth_sessions
from echo_ai.auth import twofactor
from echo_ai.auth.models import User
from echo_ai.auth.service import InvalidCredentials
from echo_ai.config import Settings
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.mail.notices import notify_change
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.security import passwords
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces.models import Workspace
from echo_ai.workspaces.personal import record_account_event


class TwoFactorRequired(AppError):
    """A member without 2FA in a workspace that requires it."""

    status_code = 403
    code = "two_factor_required"
    SETUP_PATH = "/settings/security"

    def __init__(self) -> None:
        super().__init__(
            "this workspace requires two-factor authentication: turn it on for your account "
            f"first (POST /v1/account/2fa, or the page {self.SETUP_PATH})"
        )


def check_workspace_requirement(workspace: Workspace, user: User) -> None:
    """:class:`TwoFactorRequired` if ``workspace`` requires 2FA and ``user`` has not got it."""
    if workspace.require_2fa and not twofactor.enabled(user):
        raise TwoFactorRequired()


async def begin_two_factor(
    session: AsyncSession, user: User, *, password: str, keys: KeyRing, actor: Actor
) -> twofactor.Enrolment:
    """A new secret to put in an authenticator app, once the password is confirmed (a
    wrong one is audited and refused: :class:`InvalidCredentials`); 2FA is on after
    :func:`confirm_two_factor`. :class:`Conflict` when it is on already."""
    if twofactor.enabled(user):
        raise Conflict("two-factor authentication is already on")
    await confirm_password(session, user, password, actor=actor, purpose="enable_2fa")
    enrolment = twofactor.begin(user, keys)
    await session.flush()
    return enrolment


@dataclass(frozen=True)
class TwoFactorOn:
    recovery_codes: list[str]
    """To show once."""
    sessions_ended: int
    """The user's other sessions, ended when 2FA was turned on."""


async def confirm_two_factor(
    session: AsyncSession,
    user: User,
    code: str,
    *,
    keys: KeyRing,
    now: datetime,
    actor: Actor,
    settings: Settings,
    keep: uuid.UUID | None,
) -> TwoFactorOn:
    """Turn 2FA on with a first code: the recovery codes, to show once. Every other
    session of the user ends (refresh-token families: other sign-ins and browsers), the
    session ``keep`` (the one that turned it on) stays, so that a session opened with the
    password alone, before, does not outlive the change. The user is told by mail."""
    codes = await twofactor.confirm(session, user, code, keys=keys, now=now)
    ended = await auth_sessions.revoke_all(session, user.id, now=now, keep=keep)
    await record_account_event(
        session, Action.TWO_FACTOR_ENABLED, user, actor, {"sessions_revoked": ended}
    )
    await notify_change(session, user.email, "2fa_enabled", settings, now=now)
    return TwoFactorOn(recovery_codes=codes, sessions_ended=ended)


async def _check_password_and_code(
    session: AsyncSession,
    user: User,
    password: str,
    code: str | None,
    *,
    keys: KeyRing,
    now: datetime,
    actor: Actor,
    purpose: str,
) -> None:
    if not twofactor.enabled(user):
        raise Conflict("two-factor authentication is not on")
    await confirm_identity(
        session, user, password, code, keys=keys, now=now, actor=actor, purpose=purpose
    )


async def confirm_identity(
    session: AsyncSession,
    user: User,
    password: str,
    code: str | None,
    *,
    keys: KeyRing,
    now: datetime,
    actor: Actor,
    purpose: str,
) -> None:
    """Check the password, then (when 2FA is on) a current code or a recovery code (used
    up): :class:`InvalidCredentials` or a second-factor refusal, audited by
    :func:`confirmation_failed` under ``purpose``. Callers count the attempt first
    (:func:`echo_ai.api.limits.count_confirmation`)."""
    await confirm_password(session, user, password, actor=actor, purpose=purpose)
    await confirm_second_factor(
        session, user, code, keys=keys, now=now, actor=actor, purpose=purpose
    )


async def confirm_password(
    session: AsyncSession, user: User, password: str, *, actor: Actor, purpose: str
) -> None:
    """The first half of :func:`confirm_identity` (a caller with a check to make between
    the two, such as the deletion's, calls the halves)."""
    if not passwords.verify_password(user.password_hash, password):
        wrong = InvalidCredentials("the password is incorrect")
        raise await confirmation_failed(session, user, actor, purpose, wrong)


async def confirm_second_factor(
    session: AsyncSession,
    user: User,
    code: str | None,
    *,
    keys: KeyRing,
    now: datetime,
    actor: Actor,
    purpose: str,
) -> None:
    """The second half of :func:`confirm_identity`: nothing when 2FA is off."""
    try:
        await twofactor.check(session, user, code, keys=keys, now=now)
    except (twofactor.SecondFactorRequired, twofactor.InvalidSecondFactor) as refused:
        raise await confirmation_failed(session, user, actor, purpose, refused) from None


async def confirmation_failed(
    session: AsyncSession, user: User, actor: Actor, purpose: str, refusal: AppError
) -> AppError:
    """Audit a wrong password or 2FA code confirming ``purpose`` (``auth.confirmation_failed``)
    and give back ``refusal`` to raise. The record lasts only if the caller commits: the
    pages show the refusal (and commit), the API answers it without raising."""
    await record_account_event(
        session,
        Action.CONFIRMATION_FAILED,
        user,
        actor,
        {"purpose": purpose, "reason": refusal.code},
    )
    return refusal


async def disable_two_factor(
    session: AsyncSession,
    user: User,
    *,
    password: str,
    code: str | None,
    keys: KeyRing,
    now: datetime,
    actor: Actor,
    settings: Settings,
) -> None:
    """Turn 2FA off (the password and a current code or recovery code needed); the user is
    told by mail."""
    await _check_password_and_code(
        session, user, password, code, keys=keys, now=now, actor=actor, purpose="disable_2fa"
    )
    await twofactor.disable(session, user)
    await record_account_event(session, Action.TWO_FACTOR_DISABLED, user, actor)
    await notify_change(session, user.email, "2fa_disabled", settings, now=now)


async def reset_two_factor(
    session: AsyncSession, user: User, *, now: datetime, actor: Actor, settings: Settings
) -> int:
    """An operator turns 2FA off for a user who lost both the authenticator and the
    recovery codes (no password or code asked: the operator vouches for the request):
    the secret and recovery codes go, every session ends, and the user is told by mail.
    :class:`Conflict` if 2FA is off. How many sessions were ended."""
    if not twofactor.enabled(user):
        raise Conflict(f"two-factor authentication is not on for {user.email}")
    await twofactor.disable(session, user)
    ended = await auth_sessions.revoke_all(session, user.id, now=now)
    await record_account_event(
        session, Action.TWO_FACTOR_RESET, user, actor, {"sessions_revoked": ended}
    )
    await notify_change(session, user.email, "2fa_reset", settings, now=now)
    return ended


async def regenerate_recovery_codes(
    session: AsyncSession,
    user: User,
    *,
    password: str,
    code: str | None,
    keys: KeyRing,
    now: datetime,
    actor: Actor,
    settings: Settings,
) -> list[str]:
    """New recovery codes (the old ones stop working), shown once; the user is told by
    mail."""
    await _check_password_and_code(
        session, user, password, code, keys=keys, now=now, actor=actor, purpose="recovery_codes"
    )
    codes = await twofactor.new_recovery_codes(session, user, now=now)
    await record_account_event(session, Action.RECOVERY_CODES_REGENERATED, user, actor)
    await notify_change(session, user.email, "recovery_codes", settings, now=now)
    return codes


async def set_workspace_requirement(
    session: AsyncSession, workspace: Workspace, user: User, required: bool, *, actor: Actor
) -> None:
    """An owner requires (or stops requiring) 2FA of the workspace's members. Any change
    needs 2FA on the acting owner's own account: requiring it, so that nobody locks
    themselves out; lifting it, so that a co-owner without 2FA cannot switch the
    requirement off to get around it."""
    if workspace.require_2fa == required:
        return
    if not twofactor.enabled(user):
        raise Conflict(
            "turn on two-factor authentication for your own account first: only an owner"
            " with two-factor authentication can change this requirement"
        )
    workspace.require_2fa = required
    await session.flush()
    await audit.record(
        session,
        Action.WORKSPACE_2FA_REQUIREMENT_SET,
        actor=actor,
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        details={"to": required},
    )


async def list_sessions(
    session: AsyncSession, user: User, *, now: datetime
) -> list[auth_sessions.SessionInfo]:
    return await auth_sessions.list_sessions(session, user.id, now=now)


async def revoke_session(
    session: AsyncSession, user: User, family_id: uuid.UUID, *, now: datetime, actor: Actor
) -> None:
    """End one of the user's sessions at once (404 if it is not a live one of theirs)."""
    if not await auth_sessions.revoke(session, user.id, family_id, now=now):
        raise NotFound("no such session")
    await record_account_event(
        session, Action.SESSION_REVOKED, user, actor, {"session_id": str(family_id)}
    )


async def revoke_all_sessions(
    session: AsyncSession,
    user: User,
    *,
    now: datetime,
    actor: Actor,
    keep: uuid.UUID | None = None,
) -> int:
    """Sign out everywhere (but the session ``keep``, if given); how many were ended."""
    count = await auth_sessions.revoke_all(session, user.id, now=now, keep=keep)
    await record_account_event(
        session, Action.SESSIONS_REVOKED, user, actor, {"count": count, "kept_current": bool(keep)}
    )
    return count
