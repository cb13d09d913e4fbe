"""Schedule use cases: set, pause, resume and remove an experiment's schedule.

Each takes the acting :class:`~echo_ai.privacy.audit.Actor`, changes the experiment of
the given workspace (another workspace's is not found) and records an audit event.

Lock order: the experiment's row, then the workspace's. The scheduler
(:func:`echo_ai.schedules.scheduler.start_due_runs`) claims a due experiment (an UPDATE
of its row) and then admits its run against the workspace's quotas (which lock the
workspace's row); :func:`set_schedule` locks the experiment (``SELECT ... FOR UPDATE``;
on SQLite the first write takes the database's one write lock) before
``quotas.admit_schedule`` locks the workspace, so the two never wait on each other in
opposite orders (a deadlock on PostgreSQL would roll back the scheduler's whole tick).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.config import Settings
from echo_ai.errors import Conflict
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.runs import service as run_service
from echo_ai.runs.models import Experiment
from echo_ai.schedules.cron import next_run, next_runs
from echo_ai.schedules.schemas import ScheduleIn
from echo_ai.workspaces import quotas

PREVIEW_RUNS = 5


async def _lock(session: AsyncSession, experiment: Experiment) -> None:
    """Lock the experiment's row before the workspace's (the scheduler's order); on
    SQLite a no-op UPDATE, since only a write takes its lock."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "sqlite":
        await session.execute(
            update(Experiment)
            .where(Experiment.id == experiment.id)
            .values(workspace_id=Experiment.workspace_id)
            .execution_options(synchronize_session=False)
        )
    else:
        await session.execute(
            select(Experiment.id).where(Experiment.id == experiment.id).with_for_update()
        )


@dataclass(frozen=True)
class SchedulePreview:
    """A schedule as typed, checked as :class:`ScheduleIn` checks it, with its next run
    times; or why it is not valid (``errors`` by field: ``cron``, ``timezone``)."""

    schedule: ScheduleIn | None
    times: list[datetime] = field(default_factory=list)
    """The next runs, in UTC (show them in ``schedule.timezone``)."""
    errors: dict[str, str] = field(default_factory=dict)


def preview(
    cron: str, timezone: str, *, now: datetime, count: int = PREVIEW_RUNS
) -> SchedulePreview:
    """The next ``count`` run times of a schedule not saved yet (cron and zone as typed),
    or the messages that saving it would give (too frequent, unknown zone...)."""
    try:
        schedule = ScheduleIn.model_validate({"cron": cron, "timezone": timezone})
    except ValidationError as error:
        errors: dict[str, str] = {}
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "cron"
            errors.setdefault(name, str(item["msg"]).removeprefix("Value error, "))
        return SchedulePreview(schedule=None, errors=errors)
    times = next_runs(schedule.cron, schedule.timezone, after=now, count=count)
    return SchedulePreview(schedule=schedule, times=times)


def apply(experiment: Experiment, schedule: ScheduleIn, *, now: datetime) -> None:
    """Give the experiment a schedule (replacing any); it is active, next run computed."""
    experiment.schedule_cron = schedule.cron
    experiment.schedule_timezone = schedule.timezone
    experiment.schedule_paused = False
    experiment.next_run_at = next_run(schedule.cron, schedule.timezone, after=now)


def _clear(experiment: Experiment) -> None:
    _require_schedule(experiment)
    experiment.schedule_cron = None
    experiment.schedule_paused = False
    experiment.next_run_at = None


def _pause(experiment: Experiment) -> None:
    _require_schedule(experiment)
    experiment.schedule_paused = True
    experiment.next_run_at = None


def _resume(experiment: Experiment, *, now: datetime) -> None:
    """Resume from now on: times that passed while paused are skipped."""
    cron = _require_schedule(experiment)
    experiment.schedule_paused = False
    experiment.next_run_at = next_run(cron, experiment.schedule_timezone, after=now)


def _require_schedule(experiment: Experiment) -> str:
    if experiment.schedule_cron is None:
        raise Conflict("the experiment has no schedule")
    return experiment.schedule_cron


async def _audited(
    session: AsyncSession, experiment: Experiment, action: Action, *, actor: Actor
) -> Experiment:
    await session.flush()
    await audit.record_about(
        session,
        action,
        experiment,
        target_type="experiment",
        actor=actor,
        details={"cron": experiment.schedule_cron, "timezone": experiment.schedule_timezone},
    )
    return experiment


async def set_schedule(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    experiment_id: uuid.UUID,
    schedule: ScheduleIn,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
) -> Experiment:
    """Run the experiment again at the cron times (replaces any schedule; active at once).
    A schedule past the plan's ``scheduled_experiments`` is refused (402
    ``quota_exceeded``); replacing the experiment's own schedule adds none."""
    experiment = await run_service.find_experiment(session, experiment_id, workspace_id)
    await _lock(session, experiment)
    await quotas.admit_schedule(
        session, workspace_id, settings=settings, experiment_id=experiment.id
    )
    apply(experiment, schedule, now=now)
    return await _audited(session, experiment, Action.SCHEDULE_SET, actor=actor)


async def pause(
    session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID, *, actor: Actor
) -> Experiment:
    """Stop starting runs until resumed (a run in progress goes on)."""
    experiment = await run_service.find_experiment(session, experiment_id, workspace_id)
    _pause(experiment)
    return await _audited(session, experiment, Action.SCHEDULE_PAUSED, actor=actor)


async def resume(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    experiment_id: uuid.UUID,
    *,
    actor: Actor,
    now: datetime,
) -> Experiment:
    """Start runs again from ``now`` on (times missed while paused are skipped)."""
    experiment = await run_service.find_experiment(session, experiment_id, workspace_id)
    _resume(experiment, now=now)
    return await _audited(session, experiment, Action.SCHEDULE_RESUMED, actor=actor)


async def remove(
    session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID, *, actor: Actor
) -> None:
    """The experiment no longer repeats (its runs so far stay)."""
    experiment = await run_service.find_experiment(session, experiment_id, workspace_id)
    _clear(experiment)
    await _audited(session, experiment, Action.SCHEDULE_REMOVED, actor=actor)
