"""HTTP routes of team workspaces, invitations and members.

Everything acts on the caller's current workspace (``X-Workspace-ID``, default the
personal one): ids of another workspace's invitations or members answer 404. Managing
(inviting, changing roles, removing others) needs an owner or admin signed in as a user;
the role rules themselves live in :mod:`echo_ai.workspaces.service`.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from echo_ai.api import limits
from echo_ai.api.auth import (
    CurrentPrincipal,
    CurrentUser,
    GuessesDep,
    ManagerPrincipal,
    PrincipalActor,
    require_user,
)
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.api_keys import members
from echo_ai.security.rate_limit import RateLimiterDep
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Role
from echo_ai.workspaces.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    MemberOut,
    RoleChange,
    WorkspaceCreate,
    WorkspaceOut,
)

router = APIRouter(tags=["workspaces"], responses=error_responses(*AUTH_ERRORS, 422))


@router.post(
    "/v1/workspaces",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkspaceOut,
    responses=error_responses(*BODY_ERRORS, 429),
)
async def create_workspace(
    data: WorkspaceCreate,
    user: CurrentUser,
    session: SessionDep,
    limiter: RateLimiterDep,
    actor: PrincipalActor,
    state: StateDep,
) -> WorkspaceOut:
    """Create a team workspace; you are its owner. Select it with ``X-Workspace-ID``."""
    workspace = await limits.create_workspace(
        session, limiter, user, data.name, actor=actor, settings=state.settings
    )
    return WorkspaceOut.of(workspace, Role.OWNER)


@router.get("/v1/workspaces", response_model=list[WorkspaceOut])
async def list_workspaces(user: CurrentUser, session: SessionDep) -> list[WorkspaceOut]:
    """Your workspaces (personal first) and your role in each."""
    return [
        WorkspaceOut.of(workspace, membership.role)
        for membership, workspace in await workspaces.memberships(session, user.id)
    ]


@router.post(
    "/v1/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationCreated,
    responses=error_responses(*BODY_ERRORS, 402, 409, 429),
)
async def create_invitation(
    data: InvitationCreate,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
    actor: PrincipalActor,
) -> InvitationCreated:
    """Invite an email address to the workspace with a role (owners and admins; only
    owners can invite owners). A pending invitation of the same address is replaced.

    This product sends no email yet: the response carries the one-time ``token``, which
    the inviter passes on to the invitee, who accepts it with ``POST
    /v1/invitations/accept`` while signed in with that address. Only the token's hash is
    stored, so it cannot be shown again: invite again if it is lost.
    """
    assert principal.user is not None
    created = await limits.invite(
        session,
        limiter,
        state.settings,
        principal.workspace_id,
        data,
        invited_by=principal.user,
        inviter_role=principal.role,
        actor=actor,
    )
    return InvitationCreated(
        **InvitationOut.of(created.invitation).model_dump(), token=created.token
    )


@router.get("/v1/invitations", response_model=list[InvitationOut])
async def list_invitations(principal: ManagerPrincipal, session: SessionDep) -> list[InvitationOut]:
    """Pending (unaccepted, unexpired) invitations of the workspace."""
    pending = await workspaces.pending_invitations(session, principal.workspace_id)
    return [InvitationOut.of(invitation) for invitation in pending]


@router.delete("/v1/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_invitation(
    invitation_id: uuid.UUID,
    principal: ManagerPrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> Response:
    """Revoke a pending invitation: its token stops working."""
    await workspaces.revoke_invitation(
        session, principal.workspace_id, invitation_id, actor_role=principal.role, actor=actor
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/invitations/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkspaceOut,
    responses=error_responses(*BODY_ERRORS, 402, 409),
)
async def accept_invitation(
    data: InvitationAccept,
    user: CurrentUser,
    session: SessionDep,
    actor: PrincipalActor,
    guesses: GuessesDep,
    state: StateDep,
) -> WorkspaceOut:
    """Join a workspace with an invitation token, signed in with the invited address.

    An unknown, expired, used or revoked token, one for another address, or one whose
    inviter is no longer an owner or admin, is 404 (the same answer for all); 409 if you
    already are a member. Unknown tokens count as guesses from your address (429 past the
    limit).
    """
    try:
        membership, workspace = await workspaces.accept(
            session, user, data.token, actor=actor, settings=state.settings
        )
    except workspaces.NoSuchInvitation as refused:
        await guesses.count(refused.refusal)
        raise
    return WorkspaceOut.of(workspace, membership.role)


@router.get("/v1/members", response_model=list[MemberOut])
async def list_members(principal: CurrentPrincipal, session: SessionDep) -> list[MemberOut]:
    """Members of the workspace and their roles (any member, signed in as a user)."""
    require_user(principal)
    rows = await workspaces.members(session, principal.workspace_id)
    return [MemberOut.of(membership, user) for membership, user in rows]


@router.patch(
    "/v1/members/{user_id}", response_model=MemberOut, responses=error_responses(*BODY_ERRORS, 409)
)
async def change_member_role(
    user_id: uuid.UUID,
    data: RoleChange,
    principal: ManagerPrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> MemberOut:
    """Change a member's role (owners and admins; only owners can grant or take away the
    owner role; the last owner cannot be demoted: 409). A member who no longer writes
    keeps read-only API keys; one who can no longer invite loses their pending
    invitations."""
    membership, user, _ = await members.change_role(
        session, principal.workspace_id, user_id, data.role, actor_role=principal.role, actor=actor
    )
    return MemberOut.of(membership, user)


@router.delete(
    "/v1/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(409),
)
async def remove_member(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """Remove a member (owners and admins; only owners can remove an owner), or leave the
    workspace yourself (any role). The last owner cannot be removed nor leave: 409. The
    member's API keys and pending invitations in the workspace are revoked at once."""
    require_user(principal)
    await members.remove_member(
        session, principal.workspace_id, user_id, actor_role=principal.role, actor=actor
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
