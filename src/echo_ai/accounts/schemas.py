"""Request and response bodies of the account-lifecycle routes: workspace privacy
settings, exports and account deletion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from echo_ai.accounts import export as exports
from echo_ai.accounts.erasure import DeletionPreview, WorkspaceRef
from echo_ai.accounts.models import DataExport, ExportStatus
from echo_ai.accounts.privacy_settings import WorkspacePrivacy
from echo_ai.auth.schemas import Password
from echo_ai.text import SingleLine
from echo_ai.workspaces.models import Role


class WorkspacePrivacyIn(BaseModel):
    """What to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    answer_retention_days: Annotated[StrictInt, Field(ge=1, le=36_500)] | None = None
    """Days raw answers and reasoning text are kept before they are redacted; at most the
    plan's. ``null``: the plan's retention."""
    scrub_personal_data: StrictBool | None = None
    """Replace e-mail addresses and phone numbers in prompts and answers by ``[email]`` and
    ``[phone]`` before they are stored."""


class WorkspacePrivacyOut(BaseModel):
    answer_retention_days: int | None
    """The workspace's own retention of raw answers; ``null``: its plan's."""
    effective_answer_retention_days: int
    """What applies: the workspace's own, else its plan's, else the server's default."""
    plan_answer_retention_days: int
    """The longest the workspace may set."""
    scrub_personal_data: bool

    @classmethod
    def of(cls, found: WorkspacePrivacy) -> WorkspacePrivacyOut:
        return cls(
            answer_retention_days=found.answer_retention_days,
            effective_answer_retention_days=found.effective_answer_retention_days,
            plan_answer_retention_days=found.plan_answer_retention_days,
            scrub_personal_data=found.scrub_personal_data,
        )


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
    error: str | None = Field(
        description="Why it failed or was withdrawn (`withdrawn`: it named a person who has "
        "since deleted their account; ask for a new export)"
    )

    @classmethod
    def of(cls, export: DataExport, *, now: datetime) -> ExportOut:
        """The export as shown at ``now``: ``expired`` once past ``expires_at``
        (:func:`echo_ai.accounts.export.status_at`)."""
        shown = cls.model_validate(export, from_attributes=True)
        shown.status = exports.status_at(export, now)
        return shown


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
