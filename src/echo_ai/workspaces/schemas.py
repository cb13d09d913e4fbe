"""Request and response bodies of workspaces, invitations and members."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, field_validator

from echo_ai.auth.models import User
from echo_ai.auth.schemas import Email, Token
from echo_ai.text import SingleLine
from echo_ai.workspaces.models import Invitation, Membership, Role, Workspace

MAX_WORKSPACE_NAME_LENGTH = 200


class MembershipOut(BaseModel):
    workspace_id: uuid.UUID
    workspace_name: str
    personal: bool
    role: Role


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, SingleLine(min_length=1, max_length=MAX_WORKSPACE_NAME_LENGTH)]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the name cannot be blank")
        return value


class WorkspaceOut(BaseModel):
    id: uuid.UUID
    name: str
    personal: bool
    role: Role
    """The caller's role in the workspace."""
    created_at: datetime

    @classmethod
    def of(cls, workspace: Workspace, role: Role) -> WorkspaceOut:
        return cls(
            id=workspace.id,
            name=workspace.name,
            personal=workspace.personal,
            role=role,
            created_at=workspace.created_at,
        )


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    role: Role = Role.MEMBER


class InvitationOut(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    email: str
    role: Role
    invited_by_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        return cls.model_validate(invitation, from_attributes=True)


class InvitationCreated(InvitationOut):
    token: str
    """The one-time token to pass on to the invitee: shown this once, never stored."""


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str | None
    role: Role
    joined_at: datetime

    @classmethod
    def of(cls, membership: Membership, user: User) -> MemberOut:
        return cls(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=membership.role,
            joined_at=membership.created_at,
        )


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str | None
    created_at: datetime
    two_factor_enabled: bool = False
    marketing_opt_in: bool = False
    memberships: list[MembershipOut]
    email_verified_at: datetime | None = None
    """When the address was confirmed with the mailed link (``null``: not yet)."""
