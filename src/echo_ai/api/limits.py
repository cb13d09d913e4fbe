"""Rate-limited use cases that the JSON API and the pages both offer: the limit and the
call it guards, written once.

A route (``api.routers``) and a page (``web.pages``) call these, so that the same limit
applies however a user acts, and a page never imports a router. Each raises
:class:`~echo_ai.security.rate_limit.RateLimited` when the limit is exhausted (the API
answers 429; a page shows when to retry), before anything is written.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.accounts import email_change
from echo_ai.accounts import export as exports
from echo_ai.auth.models import User
from echo_ai.auth.schemas import EmailChangeRequest
from echo_ai.config import Settings
from echo_ai.db import utcnow
from echo_ai.privacy.audit import Actor
from echo_ai.security.keys import KeyRing
from echo_ai.security.rate_limit import RateLimiter, enforce_rate_limit
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Role, Workspace
from echo_ai.workspaces.schemas import InvitationCreate

REGISTER_PER_IP = "10/hour"
LOGIN_PER_IP = "20/minute"
"""Sign-in attempts per address, whatever the accounts; per (account, address) and per
account, :mod:`echo_ai.security.sign_in_throttle` slows failures down instead of locking
the account."""
KEYS_CREATED_PER_WORKSPACE = "20/hour"
WORKSPACES_CREATED_PER_USER = "10/hour"
INVITATIONS_PER_WORKSPACE = "50/hour"
PASSWORD_RESETS_PER_IP = "10/hour"
PASSWORD_RESETS_PER_ADDRESS = "5/hour"
"""Reset mails one address may be sent (whoever asks), so that it cannot be flooded."""
EMAIL_CHANGES_PER_ADDRESS = "3/hour"
"""Requests to change an account's address to one new address (whichever accounts ask,
API and pages counted together): each one mails that address a link, so that it cannot
be flooded."""
VERIFICATION_MAILS_PER_USER = "5/hour"
EXPORTS_PER_USER = "5/day"
"""Data exports one account may ask for (API and pages counted together): each one reads
everything about it and writes a ZIP."""
CONFIRMATIONS_PER_USER = "5/hour"
"""Confirmations by password (and 2FA code) of one account's sensitive changes: setting
2FA up, turning it off, new recovery codes, deleting the account (API and pages counted
together), so that a stolen session cannot guess the password or a code."""


async def count_confirmation(limiter: RateLimiter, user: User) -> None:
    """Count an attempt to confirm a sensitive change by password (and code), before the
    password is checked: :class:`~echo_ai.security.rate_limit.RateLimited` past
    :data:`CONFIRMATIONS_PER_USER`."""
    await enforce_rate_limit(limiter, str(user.id), CONFIRMATIONS_PER_USER, name="confirmation")


async def request_email_change(
    session: AsyncSession,
    limiter: RateLimiter,
    user: User,
    data: EmailChangeRequest,
    *,
    keys: KeyRing,
    actor: Actor,
    settings: Settings,
) -> email_change.PendingChange:
    """Ask to change ``user``'s address to ``data.new_email`` (see
    :func:`echo_ai.accounts.email_change.request_change`), counted as a confirmation of the
    account (:func:`count_confirmation`) and against the new address
    (:data:`EMAIL_CHANGES_PER_ADDRESS`)."""
    await count_confirmation(limiter, user)
    await enforce_rate_limit(
        limiter, data.new_email, EMAIL_CHANGES_PER_ADDRESS, name="email-change-address"
    )
    return await email_change.request_change(
        session,
        user,
        data.new_email,
        password=data.password,
        code=data.code,
        keys=keys,
        now=utcnow(),
        actor=actor,
        settings=settings,
    )


async def create_workspace(
    session: AsyncSession,
    limiter: RateLimiter,
    user: User,
    name: str,
    *,
    actor: Actor,
    settings: Settings,
) -> Workspace:
    """A team workspace owned by ``user`` (:data:`WORKSPACES_CREATED_PER_USER`)."""
    await enforce_rate_limit(limiter, str(user.id), WORKSPACES_CREATED_PER_USER, name="workspace")
    return await workspaces.create_workspace(session, user, name, actor=actor, settings=settings)


async def invite(
    session: AsyncSession,
    limiter: RateLimiter,
    settings: Settings,
    workspace_id: uuid.UUID,
    data: InvitationCreate,
    *,
    invited_by: User,
    inviter_role: Role,
    actor: Actor,
) -> workspaces.NewInvitation:
    """Invite ``data.email`` with ``data.role`` to the workspace, valid for the configured
    days (:data:`INVITATIONS_PER_WORKSPACE`; the role rules are the service's)."""
    await enforce_rate_limit(
        limiter, str(workspace_id), INVITATIONS_PER_WORKSPACE, name="invitation"
    )
    return await workspaces.invite(
        session,
        workspace_id,
        email=data.email,
        role=data.role,
        invited_by=invited_by,
        inviter_role=inviter_role,
        ttl=timedelta(days=settings.auth.invitation_days),
        actor=actor,
        settings=settings,
    )


async def request_export(
    session: AsyncSession,
    limiter: RateLimiter,
    user: User,
    *,
    prepare_later: exports.PrepareLater,
    link_hours: int,
    actor: Actor,
) -> exports.RequestedExport:
    """Ask for a data export of ``user`` (:func:`echo_ai.accounts.export.request`):
    :data:`EXPORTS_PER_USER` counts the accepted requests only (a refused one, 409 while
    another is prepared, uses none), each counted atomically once its export is stored;
    past the limit the export is taken back and
    :class:`~echo_ai.security.rate_limit.RateLimited` raised."""

    async def admit() -> object:
        return await enforce_rate_limit(limiter, str(user.id), EXPORTS_PER_USER, name="export")

    return await exports.request(
        session,
        user,
        prepare_later=prepare_later,
        link_hours=link_hours,
        actor=actor,
        admit=admit,
    )
