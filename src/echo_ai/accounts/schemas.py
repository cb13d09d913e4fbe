"""Request and response bodies of the account-lifecycle routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from echo_ai.accounts.privacy_settings import WorkspacePrivacy


class WorkspacePrivacyIn(BaseModel):
    """What to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    answer_retention_days: Annotated[int, Field(ge=1, le=36_500)] | None = None
    """Days raw answers and reasoning text are kept before they are redacted; at most the
    plan's. ``null``: the plan's retention."""
    scrub_personal_data: bool | None = None
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
