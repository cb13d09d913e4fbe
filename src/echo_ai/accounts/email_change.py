"""Changing the e-mail address of one's account (issue 13): asked for with the password
(and a 2FA code), confirmed from a single-use link mailed to the new address
(:mod:`echo_ai.auth.email_tokens`, purpose ``change_email``, valid
``privacy.email_change_hours``).

The request is answered the same way whether or not the new address belongs to another
account (the link is mailed either way), so it tells nobody which addresses are
registered; the confirmation refuses an address that another account has by then
(:class:`AddressTaken`, 409). The old address gets a notice of the request and of the
change; the change confirms the new address and keeps the user's sessions. Both steps are
audited with the addresses (``auth.email_change_requested``: ``to``;
``auth.email_changed``: ``from``, ``to``), which is where erasure
(:mod:`echo_ai.accounts.erasure`) finds the account's former addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.accounts.security import confirm_identity
from echo_ai.auth import email_tokens
from echo_ai.auth.models import User
from echo_ai.config import Settings
from echo_ai.db import utcnow
from echo_ai.errors import Conflict
from echo_ai.mail import compose, notices
from echo_ai.privacy.audit import Action, Actor
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces.models import Workspace
from echo_ai.workspaces.personal import personal_workspace_id, record_account_event
from echo_ai.workspaces.recovery import InvalidLink, as_user

PURPOSE = email_tokens.CHANGE_EMAIL


class AddressTaken(Conflict):
    code = "email_taken"

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(
            f"{email} already belongs to another account: your address was not changed"
        )


@dataclass(frozen=True)
class PendingChange:
    email: str
    """The new address the confirmation link was sent to."""
    expires_at: datetime


def confirm_link(settings: Settings, token: str) -> str:
    return f"{compose.base_url(settings)}/confirm-email?token={token}"


async def pending_change(
    session: AsyncSession, user: User, *, now: datetime
) -> PendingChange | None:
    """The change waiting for its confirmation (only the latest link works), if any."""
    row = await email_tokens.pending(session, user, PURPOSE, now=now)
    if row is None or row.email is None:
        return None
    return PendingChange(email=row.email, expires_at=row.expires_at)


async def request_change(
    session: AsyncSession,
    user: User,
    new_email: str,
    *,
    password: str,
    code: str | None,
    keys: KeyRing,
    now: datetime,
    actor: Actor,
    settings: Settings,
) -> PendingChange:
    """Mail a confirmation link to ``new_email`` (normalised by the caller, as at sign-up)
    and a notice to the current address; earlier links of a change stop working. The
    password (and a 2FA code when 2FA is on) first: refusals audited by
    :func:`~echo_ai.accounts.security.confirmation_failed`; callers count the attempt
    (:func:`echo_ai.api.limits.count_confirmation`)."""
    if new_email == user.email:
        raise Conflict("the new address must differ from the current one")
    await confirm_identity(
        session, user, password, code, keys=keys, now=now, actor=actor, purpose=PURPOSE
    )
    hours = settings.privacy.email_change_hours
    token = await email_tokens.issue(
        session, user, PURPOSE, ttl=timedelta(hours=hours), now=now, email=new_email
    )
    await compose.enqueue(
        session,
        to=new_email,
        kind="change_email",
        context={"email": new_email, "link": confirm_link(settings, token), "hours": hours},
        settings=settings,
        now=now,
    )
    await notices.notify_change(
        session,
        user.email,
        f"a change of its e-mail address to {new_email} was requested"
        " (it takes effect only once confirmed from that address)",
        settings,
        now=now,
    )
    await record_account_event(
        session, Action.EMAIL_CHANGE_REQUESTED, user, actor, {"to": new_email}
    )
    return PendingChange(email=new_email, expires_at=now + timedelta(hours=hours))


async def _taken(session: AsyncSession, email: str, user: User) -> bool:
    other = await session.scalar(
        select(User.id).where(func.lower(User.email) == email.lower(), User.id != user.id)
    )
    return other is not None


async def confirm_change(
    session: AsyncSession,
    token: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> User:
    """Make the address the token was sent to the account's (confirmed at once); the
    other pending change links stop working, the old address gets a notice, the sessions
    stay. :class:`~echo_ai.workspaces.recovery.InvalidLink` for a token that is unknown,
    expired or used; :class:`AddressTaken` if another account has the address (nothing
    is changed, the link stays unused)."""
    now = now or utcnow()
    row = await email_tokens.find(session, token, PURPOSE, now=now)
    if row is None or row.email is None:
        raise InvalidLink
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise InvalidLink
    new_email, old_email = row.email, user.email
    if await _taken(session, new_email, user):
        raise AddressTaken(new_email)
    if not await email_tokens.use_up(session, row, now=now):
        raise InvalidLink
    workspace_id = await personal_workspace_id(session, old_email)
    try:
        async with session.begin_nested():
            user.email = new_email
            user.email_verified_at = now
            await session.flush()
    except IntegrityError:  # taken by a sign-up between the check and now
        raise AddressTaken(new_email) from None
    await email_tokens.expire_pending(session, user, PURPOSE, now=now)
    # A personal workspace named after the old address takes the new one.
    workspace = await session.get(Workspace, workspace_id) if workspace_id else None
    if workspace is not None and workspace.name == old_email:
        workspace.name = new_email
        await session.flush()
    await record_account_event(
        session,
        Action.EMAIL_CHANGED,
        user,
        as_user(actor, user),
        {"from": old_email, "to": new_email},
    )
    await notices.notify_change(
        session, old_email, f"its e-mail address was changed to {new_email}", settings, now=now
    )
    return user
