"""What an experiment looks like from outside: one shape for the API and ``--json``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from echo_ai.analysis.metrics import BatchMetrics
from echo_ai.experiments.service import ExperimentReport
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentStatus
from echo_ai.schedules.schemas import ScheduleOut

SYNTHETIC_NOTICE = "SYNTHETIC DATA: answers made up offline by the demo provider, not a real AI"


class BatchRunOut(BaseModel):
    id: uuid.UUID
    round: int
    """Which run of the experiment the batch belongs to (1 for the first)."""
    provider: str
    model: str
    status: BatchStatus
    synthetic: bool
    """Answers come from the offline demo provider, not a real assistant."""
    iterations_requested: int
    stored: int
    """Iterations stored so far (live while the batch runs)."""
    succeeded: int
    failed: int
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    metrics: BatchMetrics | None
    metrics_history: list[dict[str, Any]]
    """Metrics before each re-scoring, with the brand revision they belonged to."""

    @classmethod
    def of(cls, batch: BatchRun, metrics: BatchMetrics | None) -> BatchRunOut:
        return cls(
            id=batch.id,
            round=batch.round,
            provider=batch.provider,
            model=batch.model,
            status=batch.status,
            synthetic=batch.synthetic,
            iterations_requested=batch.iterations_requested,
            stored=batch.stored,
            succeeded=batch.succeeded,
            failed=batch.failed,
            error=batch.error,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            metrics=metrics,
            metrics_history=batch.metrics_history,
        )


class ExperimentOut(BaseModel):
    id: uuid.UUID
    name: str
    prompt: str
    status: ExperimentStatus
    synthetic: bool
    notice: str | None
    created_at: datetime
    brands: dict[str, Any]
    brands_revision: int
    iterations: int
    temperature: float
    grounding: bool
    require_grounding: bool
    brand_profile_id: uuid.UUID | None
    runs: int
    """How many times the experiment has run (more than once when it is scheduled)."""
    schedule: ScheduleOut | None
    providers: list[BatchRunOut]
    """The batch runs of the latest run, one per provider."""

    @classmethod
    def of(cls, experiment: Experiment, batches: list[BatchRunOut]) -> ExperimentOut:
        synthetic = any(batch.synthetic for batch in batches)
        return cls(
            id=experiment.id,
            name=experiment.name,
            prompt=experiment.prompt,
            status=experiment.status,
            synthetic=synthetic,
            notice=SYNTHETIC_NOTICE if synthetic else None,
            created_at=experiment.created_at,
            brands=experiment.brands,
            brands_revision=experiment.brands_revision,
            iterations=experiment.iterations,
            temperature=experiment.temperature,
            grounding=experiment.grounding,
            require_grounding=experiment.require_grounding,
            brand_profile_id=experiment.brand_profile_id,
            runs=experiment.runs,
            schedule=ScheduleOut.of(experiment),
            providers=batches,
        )


class ExperimentDetail(ExperimentOut):
    combined: BatchMetrics | None
    """The latest run's providers pooled at the iteration level (None until a batch has
    finished). While the run goes on it covers only its finished batches: see
    ``combined_partial`` and ``combined_providers``."""
    combined_partial: bool
    """Some batch of the latest run is still queued or running, so ``combined`` leaves it
    out (its live counts are in ``providers``)."""
    combined_providers: list[str]
    """The providers (``vendor:model``) whose batches ``combined`` includes."""
    history: list[BatchRunOut]
    """The batch runs of earlier runs (up to 19), newest run first: metrics over time.
    ``GET /v1/experiments/{id}/runs`` pages through all of them."""

    @classmethod
    def of_report(cls, report: ExperimentReport) -> ExperimentDetail:
        batches = [BatchRunOut.of(batch, metrics) for batch, metrics in report.batches]
        base = ExperimentOut.of(report.experiment, batches)
        history = [BatchRunOut.of(batch, metrics) for batch, metrics in report.earlier]
        return cls(
            **dict(base),
            combined=report.combined,
            combined_partial=report.combined_partial,
            combined_providers=report.combined_providers,
            history=history,
        )
