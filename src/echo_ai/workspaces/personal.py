"""A user's personal workspace, and the audit of events about a user's own account, which
are recorded there (an account belongs to no team workspace)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth.models import User
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.workspaces.models import Membership, Workspace


async def personal_workspace_id(session: AsyncSession, email: str) -> uuid.UUID | None:
    """The personal workspace of the account with this email, if there is one."""
    return await session.scalar(
        select(Workspace.id)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == email, Workspace.personal.is_(True))
    )


async def record_account_event(
    session: AsyncSession,
    action: Action,
    user: User,
    actor: Actor,
    details: dict[str, object] | None = None,
) -> None:
    """Audit ``action`` on ``user``'s own account, in their personal workspace."""
    await audit.record(
        session,
        action,
        actor=actor,
        workspace_id=await personal_workspace_id(session, user.email),
        target_type="user",
        target_id=user.id,
        details=details,
    )
