"""HTTP routes of trackers (sets of prompts): parse, call the service, shape the response."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from echo_ai.api.auth import CurrentPrincipal, PrincipalActor, WritePrincipal
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.experiments import prompt_files, tracker_export, trackers
from echo_ai.experiments.tracker_schemas import (
    CandidatesIn,
    CandidatesOut,
    TrackerCreate,
    TrackerCreated,
    TrackerDetail,
    TrackerOut,
    TrackerPromptIn,
    TrackerPromptsAdd,
)

router = APIRouter(
    prefix="/v1/trackers", tags=["trackers"], responses=error_responses(*AUTH_ERRORS, 422)
)

CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "prompt,topic\nbest CRM for a startup?,crm\n",
            }
        },
    }
}


class ParsedPrompts(BaseModel):
    prompts: list[TrackerPromptIn]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrackerCreated,
    responses=error_responses(*BODY_ERRORS, 402, 403),
)
async def create_tracker(
    data: TrackerCreate,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> TrackerCreated:
    """Create a tracker and queue one experiment per prompt, all asked alike (the body is an
    experiment's without ``prompt``, plus ``name`` and ``prompts``). The whole set is
    admitted at once (plan quotas, budget) before anything is stored: a refused tracker
    leaves nothing behind."""
    tracker, created = await trackers.create(
        session, data, workspace_id=principal.workspace_id, actor=actor, runtime=state.runtime
    )
    return TrackerCreated(
        tracker=trackers.tracker_out(tracker, created), experiment_ids=[e.id for e in created]
    )


@router.post(
    "/prompts/csv",
    response_model=ParsedPrompts,
    openapi_extra=CSV_BODY,
    responses=error_responses(400, 413),
)
async def parse_prompts_csv(request: Request, principal: CurrentPrincipal) -> ParsedPrompts:
    """Read prompts from a CSV body (``text/csv``, UTF-8, a header naming ``prompt`` and
    optionally ``topic``): nothing is stored. Bad rows are refused with 422 naming the line;
    put the prompts in ``POST /v1/trackers``."""
    del principal
    return ParsedPrompts(prompts=prompt_files.from_csv(await request.body()))


@router.post(
    "/candidates",
    response_model=CandidatesOut,
    responses=error_responses(*BODY_ERRORS, 402, 502),
)
async def candidate_prompts(
    data: CandidatesIn, principal: WritePrincipal, session: SessionDep, state: StateDep
) -> CandidatesOut:
    """Candidate prompts written by a provider (``demo``: offline templates, synthetic)
    from a brand profile's brand, competitors and keywords and the ``category`` typed, for
    the user to review: nothing is stored or run. A real provider's call uses the
    workspace's stored key when it has one, is checked against the workspace's budget
    first (402 ``budget_exhausted`` / ``price_unknown``, nothing sent), and its cost is
    returned (``cost_usd``) and counted in the month's spend ("Candidate prompts" in cost
    reports); 502 when the provider fails."""
    return await trackers.candidates(session, principal.workspace_id, data, runtime=state.runtime)


@router.get("", response_model=list[TrackerOut])
async def list_trackers(principal: CurrentPrincipal, session: SessionDep) -> list[TrackerOut]:
    """The workspace's trackers, newest first."""
    return await trackers.list_all(session, principal.workspace_id)


@router.get("/{tracker_id}", response_model=TrackerDetail)
async def get_tracker(
    tracker_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> TrackerDetail:
    """Figures per prompt (each experiment's latest complete run), per topic and overall
    (pooled over prompts, 95% intervals over prompts as clusters)."""
    tracker = await trackers.get(session, principal.workspace_id, tracker_id)
    return await trackers.detail(session, tracker)


@router.get(
    "/{tracker_id}/export.{fmt}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "application/json": {}},
            "description": "One row (JSON: one item) per figure: overall, per topic, per "
            "prompt and over time, with counts, 95% interval and the synthetic label. "
            'Columns: docs/exports.md, "Tracker exports".',
        }
    },
)
async def export_tracker(
    tracker_id: uuid.UUID,
    fmt: tracker_export.Format,
    principal: CurrentPrincipal,
    session: SessionDep,
) -> StreamingResponse:
    """The tracker's figures as CSV or JSON, streamed: per prompt (latest complete run,
    Wilson intervals), per topic and overall (pooled, intervals over prompts as clusters)
    and overall visibility over time; no answers."""
    tracker = await trackers.get(session, principal.workspace_id, tracker_id)
    detail = await trackers.detail(session, tracker)
    return StreamingResponse(
        tracker_export.chunks(detail, fmt),
        media_type=fmt.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{tracker_export.filename(detail, fmt)}"'
        },
    )


@router.post(
    "/{tracker_id}/prompts",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrackerCreated,
    responses=error_responses(*BODY_ERRORS, 402, 403, 409),
)
async def add_prompts(
    tracker_id: uuid.UUID,
    data: TrackerPromptsAdd,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> TrackerCreated:
    """Queue more prompts, asked as the tracker's other prompts are (409 for a prompt it
    already has, or past 200 prompts)."""
    tracker = await trackers.get(session, principal.workspace_id, tracker_id)
    created = await trackers.add_prompts(
        session, tracker, data.prompts, actor=actor, runtime=state.runtime
    )
    everything = await trackers.experiments_of(session, tracker)
    return TrackerCreated(
        tracker=trackers.tracker_out(tracker, everything), experiment_ids=[e.id for e in created]
    )


@router.delete(
    "/{tracker_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(409)
)
async def delete_tracker(
    tracker_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """Delete the tracker with its experiments, their runs and answers (409 while any of
    them runs)."""
    tracker = await trackers.get(session, principal.workspace_id, tracker_id)
    await trackers.delete(session, tracker, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
