"""What the dashboard's overview reads: each experiment of a workspace with the visibility
of its recent runs, and what the workspace spent this month.

Stored figures only (no iteration is read): a run's visibility is the combined figure of
its providers that :func:`echo_ai.runs.service.store_round_metrics` keeps in
``experiment_rounds``; a month's spend is the sum of the stored costs of its batch runs.
A page of experiments costs three queries whatever its size: the experiments (keyset on
``(workspace_id, created_at, id)``), their latest run's batches, and the visibility of
their last :data:`HISTORY` runs (a range of the ``(experiment_id, round)`` unique index
per experiment, with only the ``visibility`` member of the stored metrics selected).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.metrics import Rate
from echo_ai.analysis.statistics import significant_change
from echo_ai.experiments import service as experiment_service
from echo_ai.runs.models import BatchRun, Experiment, ExperimentRound

HISTORY = 30
"""Runs of each experiment whose visibility the overview reads (its sparkline)."""


@dataclass(frozen=True)
class RunVisibility:
    """The target's visibility in one run, all its finished providers pooled."""

    round: int
    visibility: Rate
    complete: bool
    """Every provider of the run has finished (else the figure leaves some out)."""


@dataclass(frozen=True)
class Change:
    """How the visibility moved from one complete run to the next."""

    previous: RunVisibility
    latest: RunVisibility
    significant: bool
    """The project's test (:func:`~echo_ai.analysis.statistics.significant_change`, 5%):
    not noise."""

    @property
    def points(self) -> float:
        """The difference of the two rates (a fraction: 0.05 is 5 points)."""
        assert self.latest.visibility.value is not None
        assert self.previous.visibility.value is not None
        return self.latest.visibility.value - self.previous.visibility.value


@dataclass(frozen=True)
class OverviewRow:
    experiment: Experiment
    runs: list[RunVisibility]
    """The last runs with a figure, oldest first (at most :data:`HISTORY`)."""
    synthetic: bool
    """The latest run's answers come from the offline demo provider."""

    @property
    def complete_runs(self) -> list[RunVisibility]:
        return [run for run in self.runs if run.complete and run.visibility.denominator > 0]

    @property
    def latest(self) -> RunVisibility | None:
        """The newest complete run's figure; a run in progress's partial figure only when
        no run is complete yet."""
        complete = self.complete_runs
        if complete:
            return complete[-1]
        return self.runs[-1] if self.runs else None

    @property
    def change(self) -> Change | None:
        """From the previous complete run to the latest one (None before two)."""
        complete = self.complete_runs
        if len(complete) < 2:
            return None
        previous, latest = complete[-2], complete[-1]
        significant = significant_change(
            previous.visibility.numerator,
            previous.visibility.denominator,
            latest.visibility.numerator,
            latest.visibility.denominator,
        )
        return Change(previous=previous, latest=latest, significant=significant)


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
    history = await recent_visibility(session, experiments)
    return [
        OverviewRow(
            experiment=experiment,
            runs=history.get(experiment.id, []),
            synthetic=any(b.synthetic for b in experiment_service.latest_batches(experiment)),
        )
        for experiment in experiments
    ]


async def recent_visibility(
    session: AsyncSession, experiments: list[Experiment], *, runs: int = HISTORY
) -> dict[uuid.UUID, list[RunVisibility]]:
    """The stored visibility of the last ``runs`` runs of each experiment, oldest first,
    in one query (runs without a figure yet are left out)."""
    if not experiments:
        return {}
    rows = await session.execute(
        select(
            ExperimentRound.experiment_id,
            ExperimentRound.round,
            ExperimentRound.complete,
            ExperimentRound.combined["visibility"],
        )
        .join(Experiment, Experiment.id == ExperimentRound.experiment_id)
        .where(
            ExperimentRound.experiment_id.in_([experiment.id for experiment in experiments]),
            ExperimentRound.round > Experiment.runs - runs,
            ExperimentRound.combined.is_not(None),
        )
        .order_by(ExperimentRound.experiment_id, ExperimentRound.round)
    )
    found: dict[uuid.UUID, list[RunVisibility]] = {}
    for experiment_id, round_, complete, visibility in rows:
        if visibility is None:
            continue
        found.setdefault(experiment_id, []).append(
            RunVisibility(
                round=round_, visibility=Rate.model_validate(visibility), complete=complete
            )
        )
    return found


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
