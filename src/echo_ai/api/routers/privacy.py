"""HTTP routes of a workspace's privacy settings (docs/privacy.md): its retention of raw
answers and the scrubbing of e-mail addresses and phone numbers. Every member reads them;
owners and admins (signed in as users) change them, audited."""

from __future__ import annotations

from fastapi import APIRouter

from echo_ai.accounts import privacy_settings
from echo_ai.accounts.schemas import WorkspacePrivacyIn, WorkspacePrivacyOut
from echo_ai.api.auth import CurrentPrincipal, ManagerPrincipal, PrincipalActor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses

router = APIRouter(tags=["privacy"], responses=error_responses(*AUTH_ERRORS))


@router.get("/v1/workspace/privacy", response_model=WorkspacePrivacyOut)
async def get_workspace_privacy(
    principal: CurrentPrincipal, session: SessionDep, state: StateDep
) -> WorkspacePrivacyOut:
    """The workspace's retention of raw answers (its own, its plan's, the one that
    applies) and whether personal data is scrubbed before storage."""
    found = await privacy_settings.get(session, principal.workspace_id, state.settings)
    return WorkspacePrivacyOut.of(found)


@router.put(
    "/v1/workspace/privacy",
    response_model=WorkspacePrivacyOut,
    responses=error_responses(*BODY_ERRORS),
)
async def set_workspace_privacy(
    data: WorkspacePrivacyIn,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> WorkspacePrivacyOut:
    """Change the workspace's privacy settings (owners and admins; fields left out stay).
    `answer_retention_days` may only shorten the plan's retention (422
    `retention_too_long`); `null` goes back to the plan's. Each change is audited."""
    workspace_id = principal.workspace_id
    found = await privacy_settings.get(session, workspace_id, state.settings)
    if "answer_retention_days" in data.model_fields_set:
        found = await privacy_settings.set_answer_retention(
            session, workspace_id, data.answer_retention_days, actor=actor, settings=state.settings
        )
    if data.scrub_personal_data is not None:
        found = await privacy_settings.set_scrubbing(
            session, workspace_id, data.scrub_personal_data, actor=actor, settings=state.settings
        )
    return WorkspacePrivacyOut.of(found)
