"""Request and response bodies of the accounts API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from echo_ai.accounts.models import Role
from echo_ai.security.passwords import MAX_PASSWORD_LENGTH

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
Scope = Literal["read", "write"]


def normalise_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(max_length=320)]
    password: Password

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)


class Registration(Credentials):
    display_name: Annotated[str | None, Field(max_length=200)] = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    """Seconds until the access token expires."""
    refresh_token: str


class Message(BaseModel):
    message: str


class MembershipOut(BaseModel):
    workspace_id: uuid.UUID
    workspace_name: str
    personal: bool
    role: Role


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str | None
    created_at: datetime
    memberships: list[MembershipOut]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=2)] = ["read", "write"]
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = None


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    last4: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
    """The key itself: shown this once, never stored."""


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]

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


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, Field(max_length=320)]
    role: Role = Role.MEMBER

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)


class InvitationOut(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    email: str
    role: Role
    invited_by_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime


class InvitationCreated(InvitationOut):
    token: str
    """The one-time token to pass on to the invitee: shown this once, never stored."""


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=200)]


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    display_name: str | None
    role: Role
    joined_at: datetime


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
