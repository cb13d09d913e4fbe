"""A workspace's privacy settings: its own retention of raw answers (it may only shorten
its plan's) and the scrubbing of e-mail addresses and phone numbers before storage. Set by
owners and admins; every change is audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.accounts.retention import answer_retention_days, plan_retention_limit
from echo_ai.config import Settings
from echo_ai.errors import AppError, NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID
from echo_ai.workspaces.models import Workspace


class RetentionTooLong(AppError):
    """A workspace asked to keep raw answers longer than its plan allows."""

    status_code = 422
    code = "retention_too_long"

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class WorkspacePrivacy:
    answer_retention_days: int | None
    """The workspace's own setting (None: its plan's)."""
    effective_answer_retention_days: int
    """What the retention task applies (:func:`.retention.answer_retention_days`)."""
    plan_answer_retention_days: int
    """The longest the workspace may set: its plan's (or the operator's default)."""
    scrub_personal_data: bool


async def _workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("no such workspace")
    return workspace


def privacy_of(workspace: Workspace, settings: Settings) -> WorkspacePrivacy:
    local = workspace.id == LOCAL_WORKSPACE_ID
    return WorkspacePrivacy(
        answer_retention_days=workspace.answer_retention_days,
        effective_answer_retention_days=answer_retention_days(
            settings, plan=workspace.plan, own_days=workspace.answer_retention_days, local=local
        ),
        plan_answer_retention_days=plan_retention_limit(settings, workspace.plan, local=local),
        scrub_personal_data=workspace.scrub_personal_data,
    )


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, settings: Settings
) -> WorkspacePrivacy:
    return privacy_of(await _workspace(session, workspace_id), settings)


async def set_answer_retention(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    days: int | None,
    *,
    actor: Actor,
    settings: Settings,
) -> WorkspacePrivacy:
    """Set the workspace's own retention of raw answers (None: back to its plan's); longer
    than the plan's is refused (:class:`RetentionTooLong`). Audited when it changes."""
    workspace = await _workspace(session, workspace_id)
    limit = plan_retention_limit(settings, workspace.plan, local=workspace.id == LOCAL_WORKSPACE_ID)
    if days is not None and days > limit:
        raise RetentionTooLong(
            f"the {workspace.plan} plan keeps raw answers {limit} days: a workspace may "
            f"only shorten that, not set {days}",
            details={"requested_days": days, "plan_days": limit, "plan": str(workspace.plan)},
        )
    previous = workspace.answer_retention_days
    if previous != days:
        workspace.answer_retention_days = days
        await session.flush()
        await audit.record(
            session,
            Action.ANSWER_RETENTION_SET,
            actor=actor,
            workspace_id=workspace_id,
            target_type="workspace",
            target_id=workspace_id,
            details={"from": previous, "to": days},
        )
    return privacy_of(workspace, settings)


async def set_scrubbing(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    on: bool,
    *,
    actor: Actor,
    settings: Settings,
) -> WorkspacePrivacy:
    """Turn the scrubbing of e-mail addresses and phone numbers on or off (for prompts
    and answers stored from now on). Audited when it changes."""
    workspace = await _workspace(session, workspace_id)
    previous = workspace.scrub_personal_data
    if previous != on:
        workspace.scrub_personal_data = on
        await session.flush()
        await audit.record(
            session,
            Action.SCRUBBING_SET,
            actor=actor,
            workspace_id=workspace_id,
            target_type="workspace",
            target_id=workspace_id,
            details={"from": previous, "to": on},
        )
    return privacy_of(workspace, settings)
