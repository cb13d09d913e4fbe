"""What the dashboard's overview reads: each experiment of a workspace with the visibility
of its recent runs, and what the workspace spent this month.

Stored figures only (no iteration is read): a run's visibility is the combined figure of
its providers that :func:`echo_ai.runs.service.store_round_metrics` keeps in
``experiment_rounds``; a month's spend is the sum of the stored costs of its batch runs.
A page of experiments costs four queries whatever its size: the experiments (keyset on
``(workspace_id, created_at, id)``), their latest run's batches, and the visibility of
their last :data:`~echo_ai.experiments.service.RECENT_RUNS` runs with which of them are
synthetic (:func:`echo_ai.experiments.history.recent_runs`, which the experiment page's
trend reads too, and whose changes follow the same rule,
:func:`echo_ai.experiments.history.run_changes`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.experiments import history
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.history import Change, RunChange, RunFigure
from echo_ai.runs.models import BatchRun, Experiment


@dataclass(frozen=True)
class OverviewRow:
    experiment: Experiment
    runs: list[RunChange]
    """The last runs with a figure, oldest first, each with its change from the previous
    complete run (:func:`~echo_ai.experiments.history.run_changes`)."""

    @property
    def complete_runs(self) -> list[RunFigure]:
        return [change.run for change in self.runs if change.run.comparable]

    @property
    def _latest(self) -> RunChange | None:
        return history.latest_change(self.runs)

    @property
    def latest(self) -> RunFigure | None:
        """The newest complete run's figure; a run in progress's partial figure only when
        no run is complete yet."""
        latest = self._latest
        return latest.run if latest else None

    @property
    def change(self) -> Change | None:
        """From the previous complete run to the latest one (None before two)."""
        latest = self._latest
        return latest.change if latest else None

    @property
    def synthetic(self) -> bool:
        """The figure shown comes from the offline demo provider's answers."""
        latest = self.latest
        return latest.synthetic if latest else False


async def overview_page(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[OverviewRow]:
    """The workspace's experiments (scheduled or not), newest first, ``limit`` of them
    after ``before`` (created_at, id), each with the visibility of its recent runs."""
    experiments = await experiment_service.list_recent(
        session, limit=limit, workspace_id=workspace_id, before=before
    )
    recent = await history.recent_runs(session, [e.id for e in experiments])
    return [
        OverviewRow(experiment=experiment, runs=history.run_changes(recent.get(experiment.id, [])))
        for experiment in experiments
    ]


@dataclass(frozen=True)
class Spend:
    total_usd: Decimal
    """The known costs of the batch runs finished in the period."""
    batches: int
    """Batch runs finished in the period."""
    unpriced: int
    """Of those, batch runs without a known total (a model without a price)."""


async def spend_since(session: AsyncSession, workspace_id: uuid.UUID, since: datetime) -> Spend:
    """What the workspace's batch runs finished since ``since`` cost (one query over the
    batch rows of its experiments; summed exactly, in decimals)."""
    costs = list(
        await session.scalars(
            select(BatchRun.cost_usd)
            .join(Experiment, Experiment.id == BatchRun.experiment_id)
            .where(Experiment.workspace_id == workspace_id, BatchRun.finished_at >= since)
        )
    )
    known = [cost for cost in costs if cost is not None]
    return Spend(
        total_usd=sum(known, Decimal(0)), batches=len(costs), unpriced=len(costs) - len(known)
    )
