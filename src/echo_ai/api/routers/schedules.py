"""HTTP routes of an experiment's schedule: set, pause, resume, remove."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from echo_ai.api.auth import PrincipalActor, WritePrincipal
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.db import utcnow
from echo_ai.schedules import service as schedules
from echo_ai.schedules.schemas import ScheduleIn, ScheduleOut

router = APIRouter(
    prefix="/v1/experiments", tags=["experiments"], responses=error_responses(*AUTH_ERRORS, 422)
)


@router.put(
    "/{experiment_id}/schedule",
    response_model=ScheduleOut,
    responses=error_responses(*BODY_ERRORS, 402),
)
async def set_schedule(
    experiment_id: uuid.UUID,
    data: ScheduleIn,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> ScheduleOut | None:
    """Run the experiment again at the cron times (replaces any schedule; active at once).
    402 ``quota_exceeded`` past the plan's experiments with a schedule."""
    experiment = await schedules.set_schedule(
        session,
        principal.workspace_id,
        experiment_id,
        data,
        actor=actor,
        now=utcnow(),
        settings=state.settings,
    )
    return ScheduleOut.of(experiment)


@router.post(
    "/{experiment_id}/schedule/pause", response_model=ScheduleOut, responses=error_responses(409)
)
async def pause_schedule(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> ScheduleOut | None:
    """Stop starting runs until resumed (a run in progress goes on)."""
    experiment = await schedules.pause(session, principal.workspace_id, experiment_id, actor=actor)
    return ScheduleOut.of(experiment)


@router.post(
    "/{experiment_id}/schedule/resume", response_model=ScheduleOut, responses=error_responses(409)
)
async def resume_schedule(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> ScheduleOut | None:
    """Start runs again from now on (times missed while paused are skipped)."""
    experiment = await schedules.resume(
        session, principal.workspace_id, experiment_id, actor=actor, now=utcnow()
    )
    return ScheduleOut.of(experiment)


@router.delete(
    "/{experiment_id}/schedule",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(409),
)
async def remove_schedule(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """The experiment no longer repeats (its runs so far stay)."""
    await schedules.remove(session, principal.workspace_id, experiment_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
