"""HTTP routes of an experiment's schedule: set, pause, resume, remove."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.api.auth import Principal, PrincipalActor, WritePrincipal
from echo_ai.api.deps import SessionDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.db import utcnow
from echo_ai.experiments import service as experiments
from echo_ai.experiments.schemas import ScheduleIn
from echo_ai.experiments.views import ScheduleOut
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.runs.models import Experiment
from echo_ai.schedules import cron as schedules

router = APIRouter(
    prefix="/v1/experiments", tags=["experiments"], responses=error_responses(*AUTH_ERRORS, 422)
)


async def _change_schedule(
    experiment_id: uuid.UUID,
    principal: Principal,
    session: AsyncSession,
    actor: Actor,
    action: Action,
    change: Callable[[Experiment], None],
) -> ScheduleOut | None:
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    change(experiment)
    await session.flush()
    await audit.record(
        session,
        action,
        actor=actor,
        workspace_id=principal.workspace_id,
        target_type="experiment",
        target_id=experiment.id,
        details={"cron": experiment.schedule_cron, "timezone": experiment.schedule_timezone},
    )
    return ScheduleOut.of(experiment)


@router.put(
    "/{experiment_id}/schedule",
    response_model=ScheduleOut,
    responses=error_responses(*BODY_ERRORS),
)
async def set_schedule(
    experiment_id: uuid.UUID,
    data: ScheduleIn,
    principal: WritePrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> ScheduleOut | None:
    """Run the experiment again at the cron times (replaces any schedule; active at once)."""

    def change(experiment: Experiment) -> None:
        schedules.set_schedule(experiment, cron=data.cron, timezone=data.timezone, now=utcnow())

    return await _change_schedule(
        experiment_id, principal, session, actor, Action.SCHEDULE_SET, change
    )


@router.post(
    "/{experiment_id}/schedule/pause", response_model=ScheduleOut, responses=error_responses(409)
)
async def pause_schedule(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> ScheduleOut | None:
    """Stop starting runs until resumed (a run in progress goes on)."""
    return await _change_schedule(
        experiment_id, principal, session, actor, Action.SCHEDULE_PAUSED, schedules.pause
    )


@router.post(
    "/{experiment_id}/schedule/resume", response_model=ScheduleOut, responses=error_responses(409)
)
async def resume_schedule(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> ScheduleOut | None:
    """Start runs again from now on (times missed while paused are skipped)."""

    def change(experiment: Experiment) -> None:
        schedules.resume(experiment, now=utcnow())

    return await _change_schedule(
        experiment_id, principal, session, actor, Action.SCHEDULE_RESUMED, change
    )


@router.delete(
    "/{experiment_id}/schedule",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(409),
)
async def remove_schedule(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """The experiment no longer repeats (its runs so far stay)."""
    await _change_schedule(
        experiment_id, principal, session, actor, Action.SCHEDULE_REMOVED, schedules.clear_schedule
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
