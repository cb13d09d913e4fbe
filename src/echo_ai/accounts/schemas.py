"""What the API says about exports and account deletion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from echo_ai.accounts.erasure import DeletionPreview, WorkspaceRef
from echo_ai.accounts.models import DataExport, ExportStatus
from echo_ai.auth.schemas import Password
from echo_ai.text import SingleLine
from echo_ai.workspaces.models import Role


class ExportOut(BaseModel):
    id: uuid.UUID
    status: ExportStatus
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime = Field(
        description="Until when the download link works (from when the export is ready)"
    )
    size_bytes: int | None
    downloaded_at: datetime | None
    error: str | None

    @classmethod
    def of(cls, export: DataExport) -> ExportOut:
        return cls.model_validate(export, from_attributes=True)


class ExportRequested(ExportOut):
    download_url: str = Field(
        description="The download link (with its token): in this answer only. It works once "
        "the status is `ready`, until `expires_at`, for the signed-in user who asked."
    )


class WorkspaceOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role

    @classmethod
    def of(cls, ref: WorkspaceRef) -> WorkspaceOut:
        return cls(id=ref.id, name=ref.name, role=ref.role)


class DeletionPreviewOut(BaseModel):
    allowed: bool
    deleted_workspaces: list[WorkspaceOut] = Field(
        description="Workspaces you own alone: deleted with your account"
    )
    left_workspaces: list[WorkspaceOut] = Field(description="Workspaces you leave")
    blocking_workspaces: list[WorkspaceOut] = Field(
        description="Workspaces with other members where you are the only owner: make "
        "another member owner first"
    )

    @classmethod
    def of(cls, preview: DeletionPreview) -> DeletionPreviewOut:
        return cls(
            allowed=preview.allowed,
            deleted_workspaces=[WorkspaceOut.of(w) for w in preview.deleted],
            left_workspaces=[WorkspaceOut.of(w) for w in preview.left],
            blocking_workspaces=[WorkspaceOut.of(w) for w in preview.blocking],
        )


class AccountDeletion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password
    code: Annotated[str, SingleLine(min_length=1, max_length=64)] | None = Field(
        default=None, description="A 2FA code (or a recovery code) when 2FA is on"
    )
