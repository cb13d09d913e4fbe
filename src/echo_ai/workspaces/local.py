"""The local workspace: where experiments started from the command line belong.

``echo-ai run`` has no signed-in user, but every experiment belongs to a workspace, so
that it is audited and visible to the API and the dashboard like any other. Each
database has one local workspace (created on first use, with a fixed id); an operator
makes it visible to a user with ``echo-ai local-workspace EMAIL``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth.models import User
from echo_ai.errors import NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.workspaces.models import Membership, Role, Workspace

LOCAL_WORKSPACE_ID = uuid.UUID("00000000-0000-4000-8000-00000000ec40")
LOCAL_WORKSPACE_NAME = "Local (command line)"


async def local_workspace(session: AsyncSession) -> Workspace:
    """The local workspace, created if this database has none yet (two processes doing
    so at once both end up with the same row)."""
    found = await session.get(Workspace, LOCAL_WORKSPACE_ID)
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            session.add(Workspace(id=LOCAL_WORKSPACE_ID, name=LOCAL_WORKSPACE_NAME, personal=False))
    except IntegrityError:
        pass  # another process created it meanwhile
    created = await session.get(Workspace, LOCAL_WORKSPACE_ID, populate_existing=True)
    assert created is not None
    return created


Admission = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
"""Raises if the workspace may not take one more member (the command line passes the
plan's check, :func:`echo_ai.workspaces.quotas.admit_member`)."""


async def grant(
    session: AsyncSession,
    email: str,
    *,
    role: Role,
    actor: Actor,
    admit: Admission | None = None,
) -> Membership:
    """Make the user with this email a member of the local workspace (or change their
    role there), so the command line's experiments show in their API and dashboard. A new
    member is first ``admit``-ted (a role change adds none)."""
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no account with the email {email!r}: register it first")
    workspace = await local_workspace(session)
    membership = await session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        if admit is not None:
            await admit(session, workspace.id)
        membership = Membership(workspace_id=workspace.id, user_id=user.id, role=role)
        session.add(membership)
        action = Action.MEMBER_ADDED
    else:
        membership.role = role
        action = Action.MEMBER_ROLE_CHANGED
    await session.flush()
    await audit.record(
        session,
        action,
        actor=actor,
        workspace_id=workspace.id,
        target_type="user",
        target_id=user.id,
        details={"role": str(role), "via": "echo-ai local-workspace"},
    )
    return membership
