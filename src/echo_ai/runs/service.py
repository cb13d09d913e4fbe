"""Batch-run bookkeeping: claiming work, finding missing iterations, finalising metrics.

Plain functions over a session; the caller owns the transaction.
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.selectable import ScalarSelect

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.metrics import BatchMetrics, IterationFacts, compute_metrics
from echo_ai.analysis.scoring import facts_from
from echo_ai.db import utcnow
from echo_ai.errors import NotFound
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs.claims import ClaimedBatch
from echo_ai.runs.models import (
    FINISHED_STATUSES,
    BatchRun,
    BatchStatus,
    Experiment,
    ExperimentStatus,
    Iteration,
)

_ACTIVE = (BatchStatus.QUEUED, BatchStatus.RUNNING)


def new_batch(
    experiment: Experiment,
    spec: ProviderSpec,
    *,
    chunk_size: int,
    seed: int,
    round_: int = 1,
    now: datetime | None = None,
) -> BatchRun:
    return BatchRun(
        experiment_id=experiment.id,
        round=round_,
        heartbeat_at=now or utcnow(),
        provider=spec.vendor,
        model=spec.model,
        iterations_requested=experiment.iterations,
        temperature=experiment.temperature,
        chunk_size=chunk_size,
        seed=seed,
        synthetic=spec.vendor == "demo",
        brands_revision=experiment.brands_revision,
        metrics_history=[],
    )


async def start_run(
    session: AsyncSession, experiment: Experiment, *, chunk_size: int, now: datetime
) -> list[BatchRun]:
    """Queue a new run of the experiment: one batch per provider, in round ``runs + 1``.

    Raises ValueError, changing nothing, if a stored provider is no longer known.
    """
    specs = [ProviderSpec.parse(value) for value in experiment.providers]
    experiment.runs += 1
    experiment.status = ExperimentStatus.QUEUED
    experiment.last_run_at = now
    batches = [
        new_batch(
            experiment,
            spec,
            chunk_size=chunk_size,
            seed=secrets.randbelow(2**31),
            round_=experiment.runs,
            now=now,
        )
        for spec in specs
    ]
    session.add_all(batches)
    await session.flush()
    return batches


async def find_experiment(
    session: AsyncSession, experiment_id: uuid.UUID, workspace_id: uuid.UUID | None = None
) -> Experiment:
    """The experiment (without its batches). Given a workspace, one of another workspace
    is not found: its id reveals nothing."""
    query = select(Experiment).where(Experiment.id == experiment_id)
    if workspace_id is not None:
        query = query.where(Experiment.workspace_id == workspace_id)
    experiment = await session.scalar(query)
    if experiment is None:
        raise NotFound(f"no experiment with id {experiment_id}")
    return experiment


async def claim(session: AsyncSession, batch_run_id: uuid.UUID) -> ClaimedBatch | None:
    """Mark a batch running and describe it for the engine; None if there is nothing to do.

    Status changes are conditional UPDATEs, never read-modify-write, so a slow chunk can
    not move a batch that another chunk has finished back to "running".
    """
    now = utcnow()
    # The experiment's row first, like every transaction that changes a batch's outcome
    # (see _lock_experiment_of): taken the other way round, a claim and a cancel could
    # deadlock. Only a queued experiment is written (and so locked) here.
    active = select(BatchRun.experiment_id).where(
        BatchRun.id == batch_run_id, BatchRun.status.in_(_ACTIVE)
    )
    await session.execute(
        update(Experiment)
        .where(
            Experiment.id == active.scalar_subquery(), Experiment.status == ExperimentStatus.QUEUED
        )
        .values(status=ExperimentStatus.RUNNING, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(BatchRun)
        .where(BatchRun.id == batch_run_id, BatchRun.status.in_(_ACTIVE))
        .values(
            status=BatchStatus.RUNNING,
            started_at=func.coalesce(BatchRun.started_at, now),
            heartbeat_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    batch = await session.scalar(
        select(BatchRun)
        .options(joinedload(BatchRun.experiment))
        .where(BatchRun.id == batch_run_id)
        .execution_options(populate_existing=True)
    )
    if batch is None or batch.status not in _ACTIVE:
        return None
    return ClaimedBatch.of(batch)


async def missing_indices(session: AsyncSession, batch: ClaimedBatch, chunk: int) -> list[int]:
    wanted = batch.chunk_range(chunk)
    stored = set(
        await session.scalars(
            select(Iteration.index).where(
                Iteration.batch_run_id == batch.id,
                Iteration.index >= wanted.start,
                Iteration.index < wanted.stop,
            )
        )
    )
    return [index for index in wanted if index not in stored]


async def batch_facts(
    session: AsyncSession, batch_run_ids: Sequence[uuid.UUID], *, target: str
) -> list[IterationFacts]:
    rows = await session.execute(
        select(
            Iteration.success,
            Iteration.extraction,
            Iteration.cost_usd,
            Iteration.latency_ms,
            Iteration.input_tokens,
            Iteration.output_tokens,
        ).where(Iteration.batch_run_id.in_(batch_run_ids))
    )
    return [
        facts_from(
            success=row.success,
            extraction=row.extraction,
            target=target,
            cost=row.cost_usd,
            latency_ms=row.latency_ms,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
        )
        for row in rows
    ]


def metrics_for(facts: Sequence[IterationFacts], brands: BrandSet, *, seed: int) -> BatchMetrics:
    return compute_metrics(facts, target=brands.target.name, brands=brands.names, seed=seed)


async def _most_common_error(session: AsyncSession, batch_run_id: uuid.UUID) -> str | None:
    rows = await session.execute(
        select(Iteration.error_code, Iteration.error_message).where(
            Iteration.batch_run_id == batch_run_id, Iteration.success.is_(False)
        )
    )
    counts = Counter((row.error_code, row.error_message) for row in rows)
    if not counts:
        return None
    (code, message), _ = counts.most_common(1)[0]
    return f"{code}: {message}"


async def store_metrics(session: AsyncSession, batch: BatchRun, brands: BrandSet) -> BatchMetrics:
    metrics = metrics_for(
        await batch_facts(session, [batch.id], target=brands.target.name), brands, seed=batch.seed
    )
    batch.metrics = metrics.model_dump(mode="json")
    batch.succeeded = metrics.succeeded
    batch.failed = metrics.failed
    batch.cost_usd = metrics.cost.total_usd
    return metrics


async def finalize_if_complete(session: AsyncSession, batch_run_id: uuid.UUID) -> bool:
    """Compute the metrics if every iteration is stored and no other chunk has claimed them.

    The claim is a conditional UPDATE, so of several chunks finishing at once exactly one
    computes the metrics.
    """
    requested = await session.scalar(
        select(BatchRun.iterations_requested).where(BatchRun.id == batch_run_id)
    )
    stored = await session.scalar(
        select(func.count()).select_from(Iteration).where(Iteration.batch_run_id == batch_run_id)
    )
    if requested is None or stored is None or stored < requested:
        return False
    await _lock_experiment_of(session, batch_run_id)
    claimed = await session.execute(
        update(BatchRun)
        .where(BatchRun.id == batch_run_id, BatchRun.status.in_(_ACTIVE))
        .values(status=BatchStatus.FINALIZING)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    batch = await session.scalar(
        select(BatchRun)
        .options(joinedload(BatchRun.experiment))
        .where(BatchRun.id == batch_run_id)
        .execution_options(populate_existing=True)
    )
    assert batch is not None
    metrics = await store_metrics(session, batch, BrandSet.model_validate(batch.experiment.brands))
    if metrics.succeeded == 0:
        batch.status = BatchStatus.FAILED
        reason = await _most_common_error(session, batch.id)
        batch.error = f"every iteration failed ({reason})"
    else:
        batch.status = BatchStatus.COMPLETED
    batch.finished_at = utcnow()
    await session.flush()
    await refresh_experiment_status(session, batch.experiment_id)
    return True


async def fail(session: AsyncSession, batch_run_id: uuid.UUID, reason: str) -> None:
    """Mark a batch failed (unless it has finished) and keep the reason for the user.

    Chunks still running finish the calls they have in flight; each chunk settles the
    batch again when it ends (:func:`settle_failed`), so counts and metrics end complete.
    """
    await _lock_experiment_of(session, batch_run_id)
    now = utcnow()
    failed = await session.execute(
        update(BatchRun)
        .where(BatchRun.id == batch_run_id, BatchRun.status.in_(_ACTIVE))
        .values(status=BatchStatus.FAILED, error=reason, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if failed.rowcount == 1:  # type: ignore[attr-defined]
        await settle_failed(session, batch_run_id)


_STOPPED = (BatchStatus.FAILED, BatchStatus.CANCELLED)


async def settle_failed(session: AsyncSession, batch_run_id: uuid.UUID) -> None:
    """Counts and metrics of a failed or cancelled batch from what it stored (its partial
    results)."""
    status = await session.scalar(select(BatchRun.status).where(BatchRun.id == batch_run_id))
    if status not in _STOPPED:
        return
    await _lock_experiment_of(session, batch_run_id)
    batch = await session.scalar(
        select(BatchRun)
        .options(joinedload(BatchRun.experiment))
        .where(BatchRun.id == batch_run_id, BatchRun.status.in_(_STOPPED))
        .execution_options(populate_existing=True)
    )
    if batch is None:
        return
    await store_metrics(session, batch, BrandSet.model_validate(batch.experiment.brands))
    await session.flush()
    await refresh_experiment_status(session, batch.experiment.id)


async def cancel(session: AsyncSession, experiment_id: uuid.UUID) -> list[uuid.UUID]:
    """Cancel the experiment's queued and running batches; the ids of those cancelled.

    Takes the experiment's lock first, like every change that finishes a batch, and moves
    only batches still active (a conditional UPDATE: a batch that finishes meanwhile keeps
    its status). Stored iterations stay; the batch's partial metrics are computed now and
    again by each of its chunks as it stops (calls in flight are still stored).
    """
    await _lock_experiment(session, experiment_id)
    now = utcnow()
    result = await session.execute(
        update(BatchRun)
        .where(BatchRun.experiment_id == experiment_id, BatchRun.status.in_(_ACTIVE))
        .values(
            status=BatchStatus.CANCELLED,
            error="cancelled by the user",
            finished_at=now,
            updated_at=now,
        )
        .returning(BatchRun.id)
        .execution_options(synchronize_session=False)
    )
    cancelled = list(result.scalars())
    for batch_run_id in cancelled:
        await settle_failed(session, batch_run_id)
    await refresh_experiment_status(session, experiment_id)
    return cancelled


async def is_finished(session: AsyncSession, batch_run_id: uuid.UUID) -> bool:
    """Whether the batch has ended (cancelled, failed by another chunk, or done)."""
    status = await session.scalar(select(BatchRun.status).where(BatchRun.id == batch_run_id))
    return status in FINISHED_STATUSES


async def _lock_experiment_of(session: AsyncSession, batch_run_id: uuid.UUID) -> None:
    """Lock the batch's experiment before reading or changing the batch's outcome.

    Every transaction that finishes, fails, settles or cancels a batch takes this lock
    first, so such transactions of one experiment run one after the other: each reads
    what the previous one committed (the last batch to finish sets the experiment's
    status; the last chunk to settle counts every stored row). Taking it first, always,
    rules out deadlocks. It is a no-op UPDATE rather than ``SELECT ... FOR UPDATE``
    because on SQLite only a write takes the database's write lock at that point.
    """
    await _lock_experiment(
        session, select(BatchRun.experiment_id).where(BatchRun.id == batch_run_id).scalar_subquery()
    )


async def _lock_experiment(session: AsyncSession, experiment_id: Any) -> None:
    await session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id)
        .values(updated_at=Experiment.updated_at)
        .execution_options(synchronize_session=False)
    )


async def refresh_experiment_status(session: AsyncSession, experiment_id: uuid.UUID) -> None:
    """Set the experiment's status from its latest run's batches once all have finished.

    Callers hold the experiment's lock (:func:`_lock_experiment_of`).
    """
    latest = _latest_round(experiment_id)
    statuses = list(
        await session.scalars(
            select(BatchRun.status).where(
                BatchRun.experiment_id == experiment_id, BatchRun.round == latest
            )
        )
    )
    if not statuses or any(status not in FINISHED_STATUSES for status in statuses):
        return
    if all(status == BatchStatus.CANCELLED for status in statuses):
        status = ExperimentStatus.CANCELLED
    elif any(status == BatchStatus.COMPLETED for status in statuses):
        status = ExperimentStatus.COMPLETED
    else:
        status = ExperimentStatus.FAILED
    await session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id)
        .values(status=status, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _latest_round(experiment_id: uuid.UUID) -> ScalarSelect[int]:
    """The round of the experiment's latest run (its ``runs`` count), for a query."""
    return select(Experiment.runs).where(Experiment.id == experiment_id).scalar_subquery()


async def runnable_batches(session: AsyncSession, experiment_id: uuid.UUID) -> list[BatchRun]:
    return list(
        await session.scalars(
            select(BatchRun).where(
                BatchRun.experiment_id == experiment_id, BatchRun.status.in_(_ACTIVE)
            )
        )
    )


async def reopen_unfinished(session: AsyncSession, experiment_id: uuid.UUID) -> int:
    """Let the latest run's batches run again what they lack: missing iterations and
    failed ones (earlier runs of a recurring experiment are history and stay as they are).

    Failed iterations are deleted so that their indices run again (an outage or a bad key
    must not shrink the sample for good). Returns how many batches were reopened.
    """
    latest = _latest_round(experiment_id)
    batches = list(
        await session.scalars(
            select(BatchRun).where(
                BatchRun.experiment_id == experiment_id, BatchRun.round == latest
            )
        )
    )
    now = utcnow()
    reopened = 0
    for batch in batches:
        if batch.status == BatchStatus.CANCELLED:
            continue
        removed = await session.execute(
            delete(Iteration).where(
                Iteration.batch_run_id == batch.id, Iteration.success.is_(False)
            )
        )
        if batch.status == BatchStatus.COMPLETED and not removed.rowcount:  # type: ignore[attr-defined]
            continue
        batch.status = BatchStatus.RUNNING
        batch.error = None
        batch.finished_at = None
        batch.heartbeat_at = now  # alive: not for the scheduler to re-dispatch
        reopened += 1
    await session.flush()
    return reopened
