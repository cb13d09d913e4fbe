"""What a workspace's plan lets it run: checked before a run is stored.

A new experiment, a re-run and a scheduled run ask :func:`admit_run` first. It refuses
(:class:`QuotaExceeded`, HTTP 403 ``quota_exceeded``) a run larger than the plan's
``max_iterations_per_experiment``, or one that would take the workspace's iterations in
flight past ``max_iterations_in_flight`` (see :mod:`echo_ai.billing.plans`). The error's
details name the ``limit``, the ``plan``, the ``limit_value``, the ``usage`` measured
against it (the run's own size for the first; the iterations already in flight for the
second) and the run's size (``requested``).

The in-flight count and the run that follows it must not race another request doing the
same: the workspace's row is locked first (a no-op UPDATE: on SQLite only a write takes
the write lock at that point), so two requests at once are admitted one after the other,
the second seeing the first's batches.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing.plans import Plan, local_plan, plan_in_force
from echo_ai.config import Settings
from echo_ai.errors import AppError
from echo_ai.runs.models import ACTIVE_STATUSES, BatchRun, Experiment, ExperimentStatus
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID
from echo_ai.workspaces.models import Workspace
from echo_ai.workspaces.service import plan_of

_UNFINISHED_EXPERIMENT = (ExperimentStatus.QUEUED, ExperimentStatus.RUNNING)


class QuotaExceeded(AppError):
    """A run the workspace's plan does not allow; ``details`` say which limit."""

    status_code = 403
    code = "quota_exceeded"

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


async def limits_of(session: AsyncSession, workspace_id: uuid.UUID, settings: Settings) -> Plan:
    """The plan in force for the workspace, with the settings' figures."""
    if workspace_id == LOCAL_WORKSPACE_ID:
        return local_plan(settings)
    return plan_in_force(await plan_of(session, workspace_id), settings)


async def iterations_in_flight(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    """Iterations of the workspace's unfinished batch runs not stored yet: one sum over the
    batches of its queued and running experiments (an index range each), never over
    iterations."""
    total = await session.scalar(
        select(func.coalesce(func.sum(BatchRun.iterations_requested - BatchRun.stored), 0))
        .join(Experiment, Experiment.id == BatchRun.experiment_id)
        .where(
            Experiment.workspace_id == workspace_id,
            Experiment.status.in_(_UNFINISHED_EXPERIMENT),
            BatchRun.status.in_(ACTIVE_STATUSES),
        )
    )
    return int(total or 0)


async def admit_run(
    session: AsyncSession, workspace_id: uuid.UUID, *, iterations: int, settings: Settings
) -> None:
    """Refuse, before anything is stored, a run of ``iterations`` (iterations x providers)
    that the workspace's plan does not allow; otherwise return with the workspace's row
    locked until the caller's transaction ends (store the run in it)."""
    limits = await limits_of(session, workspace_id, settings)
    if limits.unlimited:
        return
    per_run = limits.max_iterations_per_experiment
    if per_run is not None and iterations > per_run:
        raise QuotaExceeded(
            f"the {limits.name} plan allows at most {per_run:,} iterations per experiment "
            f"(iterations x providers); this one asks for {iterations:,}",
            details={
                "limit": "max_iterations_per_experiment",
                "plan": limits.name,
                "limit_value": per_run,
                "usage": iterations,
                "requested": iterations,
            },
        )
    in_flight = limits.max_iterations_in_flight
    if in_flight is None:
        return
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(updated_at=Workspace.updated_at)
        .execution_options(synchronize_session=False)
    )
    usage = await iterations_in_flight(session, workspace_id)
    if usage + iterations > in_flight:
        raise QuotaExceeded(
            f"the {limits.name} plan allows at most {in_flight:,} iterations queued or "
            f"running at once; {usage:,} are, and this run asks for {iterations:,}: wait "
            "for running experiments to finish (or cancel one)",
            details={
                "limit": "max_iterations_in_flight",
                "plan": limits.name,
                "limit_value": in_flight,
                "usage": usage,
                "requested": iterations,
            },
        )
