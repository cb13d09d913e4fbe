"""Removing a member or changing their role, with what it does to their API keys.

A key is vouched for by the member who created it. The key lookup already enforces that
on every request (:func:`echo_ai.api_keys.service.authenticate` joins the creator's
membership); these use cases also make the change lasting and visible: when a member
leaves or is removed, their keys in the workspace are revoked; when their role no longer
writes, their keys lose the write scope. Each key changed is one audit event, next to
the membership change and the revoked invitations (:mod:`echo_ai.workspaces.service`),
all in the caller's transaction.

They live here, not in :mod:`echo_ai.workspaces`, because of the layers: this package
sits above workspaces (the key lookup needs memberships), so workspaces cannot see keys.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.api_keys import service as api_keys
from echo_ai.auth.models import User
from echo_ai.privacy.audit import Actor
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Membership, Role


async def remove_member(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    actor_role: Role,
    actor: Actor,
) -> tuple[Membership, User]:
    """:func:`echo_ai.workspaces.service.remove_member` (also leaving), then revoke the
    member's keys in the workspace."""
    removed = await workspaces.remove_member(
        session, workspace_id, user_id, actor_role=actor_role, actor=actor
    )
    reason = "member_left" if actor.user_id == user_id else "member_removed"
    await api_keys.revoke_keys_of(session, workspace_id, user_id, reason=reason, actor=actor)
    return removed


async def change_role(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role,
    *,
    actor_role: Role,
    actor: Actor,
) -> tuple[Membership, User, Role]:
    """:func:`echo_ai.workspaces.service.change_role`, then, if the new role no longer
    writes, take the write scope from the member's keys in the workspace."""
    membership, user, previous = await workspaces.change_role(
        session, workspace_id, user_id, role, actor_role=actor_role, actor=actor
    )
    if previous.can_write and not role.can_write:
        await api_keys.narrow_keys_of(
            session, workspace_id, user_id, reason="role_changed", actor=actor
        )
    return membership, user, previous
