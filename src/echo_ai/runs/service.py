"""Batch-run bookkeeping: claiming work, finding missing iterations, finalising metrics.

Plain functions over a session; the caller owns the transaction. Metrics (of a batch and
of a round's batches combined) are computed here, when a batch finishes or is re-scored,
and stored: readers never pool iterations. The CPU-bound part of that work runs in a
worker thread, a slice at a time, so the event loop (of the API or of a worker) keeps
serving meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Text, Uuid, cast, column, delete, func, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.metrics import (
    BatchMetrics,
    Combination,
    IterationFacts,
    compute_metrics,
    equal_weight,
)
from echo_ai.analysis.sampling import ROUND
from echo_ai.analysis.scoring import facts_from
from echo_ai.db import rows_changed, utcnow
from echo_ai.errors import NotFound
from echo_ai.failures import Failure, FailureCode
from echo_ai.metering import ledger
from echo_ai.metering.units import to_nano
from echo_ai.providers.assumed import assumed_cost
from echo_ai.providers.registry import ProviderSpec
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.runs import adaptive, leases
from echo_ai.runs.claims import ClaimedBatch
from echo_ai.runs.history import typical_tokens
from echo_ai.runs.models import (
    ACTIVE_STATUSES,
    FINISHED_EXPERIMENT_STATUSES,
    FINISHED_STATUSES,
    BatchRun,
    BatchStatus,
    Experiment,
    ExperimentRound,
    ExperimentStatus,
    Iteration,
)

FACTS_SLICE = 2_000
"""Iterations read (and turned into facts in a worker thread) at a time: memory stays
bounded by the compact facts, not by the stored answers and extractions."""


def new_batch(
    experiment: Experiment,
    spec: ProviderSpec,
    *,
    chunk_size: int,
    seed: int,
    round_: int = 1,
    now: datetime | None = None,
) -> BatchRun:
    """A batch of the experiment's run ``round_`` for one provider. An adaptive one (the
    experiment has a precision) runs in chunks of :data:`ROUND`, the rounds between its
    looks (:mod:`echo_ai.runs.adaptive`)."""
    precision = adaptive.batch_precision(experiment.precision, experiment.iterations)
    return BatchRun(
        experiment_id=experiment.id,
        round=round_,
        heartbeat_at=now or utcnow(),
        provider=spec.vendor,
        model=spec.model,
        iterations_requested=experiment.iterations,
        precision=precision,
        temperature=experiment.temperature,
        chunk_size=chunk_size if precision is None else ROUND,
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
    await new_round(session, experiment.id, experiment.runs)
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


async def _load_batch(session: AsyncSession, batch_run_id: uuid.UUID) -> BatchRun | None:
    """The batch with its experiment, as the database has it now (not the session's copy)."""
    return await session.scalar(
        select(BatchRun)
        .options(joinedload(BatchRun.experiment))
        .where(BatchRun.id == batch_run_id)
        .execution_options(populate_existing=True)
    )


async def claim(
    session: AsyncSession, batch_run_id: uuid.UUID, *, owner: str, exclusive: bool = False
) -> ClaimedBatch | None:
    """Mark a batch running, held by ``owner`` (see :mod:`echo_ai.runs.leases`), and
    describe it for the engine; None if there is nothing to do. An ``exclusive`` holder
    (the in-process executor, which acquired the lease) claims only while the lease still
    names it: None too once another process has taken the batch over.

    Status changes are conditional UPDATEs, never read-modify-write, so a slow chunk can
    not move a batch that another chunk has finished back to "running".
    """
    now = utcnow()
    # The experiment's row first, like every transaction that changes a batch's outcome
    # (see _lock_experiment_of): taken the other way round, a claim and a cancel could
    # deadlock. Only a queued experiment is written (and so locked) here.
    claimable = [BatchRun.id == batch_run_id, BatchRun.status.in_(ACTIVE_STATUSES)]
    if exclusive:
        claimable.append(leases.still_held_by(owner))
    active = select(BatchRun.experiment_id).where(*claimable)
    await session.execute(
        update(Experiment)
        .where(
            Experiment.id == active.scalar_subquery(), Experiment.status == ExperimentStatus.QUEUED
        )
        .values(status=ExperimentStatus.RUNNING, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = await rows_changed(
        session,
        update(BatchRun)
        .where(*claimable)
        .values(
            status=BatchStatus.RUNNING,
            started_at=func.coalesce(BatchRun.started_at, now),
            heartbeat_at=now,
            lease_owner=owner,
            updated_at=now,
        ),
    )
    if claimed != 1:
        return None
    batch = await _load_batch(session, batch_run_id)
    if batch is None:
        return None
    claimed_batch = await _with_caps(session, batch)
    if batch.experiment.workspace_id is not None and await _scrubs(
        session, batch.experiment.workspace_id
    ):
        claimed_batch = dataclasses.replace(claimed_batch, scrub=True)
    return claimed_batch


_WORKSPACES = table("workspaces", column("id", Uuid()), column("scrub_personal_data", Boolean()))
"""The columns of ``workspaces`` the engine reads (the model belongs to a higher layer)."""


async def _scrubs(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    """Whether the workspace scrubs personal data from what is stored."""
    found = await session.scalar(
        select(_WORKSPACES.c.scrub_personal_data).where(_WORKSPACES.c.id == workspace_id)
    )
    return bool(found)


async def _with_caps(session: AsyncSession, batch: BatchRun) -> ClaimedBatch:
    """The claimed batch with the caps its calls reserve against (read once per chunk)
    and what each call reserves: the model's typical answer (:mod:`echo_ai.runs.history`,
    else the prompt's length in and the assumed length out) at the price table's prices,
    with its certain fees. No caps (the usual case) or a free model (the demo provider):
    nothing is reserved and nothing more is read. A model without a price reserves 0: its
    calls are never refused by a cap, and what they cost is not known to be counted."""
    experiment = batch.experiment
    if experiment.workspace_id is None or batch.provider == "demo":
        return ClaimedBatch.of(batch)
    caps = await ledger.caps_of(
        session, experiment.workspace_id, experiment.id, experiment.budget_usd
    )
    if not caps.any:
        return ClaimedBatch.of(batch)
    typical = await typical_tokens(session, experiment.workspace_id, batch.provider, batch.model)
    per_call = (
        assumed_cost(
            batch.provider,
            batch.model,
            approximate_tokens(experiment.prompt.strip()),
            grounding=experiment.grounding,
        )
        if typical is None
        else assumed_cost(
            batch.provider,
            batch.model,
            typical.input_tokens,
            grounding=experiment.grounding,
            output_tokens=typical.output_tokens,
        )
    )
    return ClaimedBatch.of(
        batch, caps=caps, reserve_nusd=0 if per_call is None else to_nano(per_call)
    )


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
    session: AsyncSession,
    batch_run_ids: Sequence[uuid.UUID],
    *,
    target: str,
    indices: range | None = None,
) -> list[IterationFacts]:
    """What the metrics need of every stored iteration of the batches (of those with an
    index in ``indices``, when given), read a slice at a time and converted off the event
    loop: the extraction is read as text and parsed in the worker thread too (decoding
    tens of thousands of JSON documents as rows arrive would hold the event loop, and
    every request with it, for seconds)."""
    wanted: list[ColumnElement[bool]] = [Iteration.batch_run_id.in_(batch_run_ids)]
    if indices is not None:
        wanted += [Iteration.index >= indices.start, Iteration.index < indices.stop]
    result = await session.stream(
        select(
            Iteration.success,
            Iteration.answer_class,
            cast(Iteration.extraction, Text).label("extraction"),
            Iteration.cost_usd,
            Iteration.latency_ms,
            Iteration.input_tokens,
            Iteration.output_tokens,
            cast(Iteration.citations, Text).label("citations"),
            cast(Iteration.sources, Text).label("sources"),
            cast(Iteration.search_queries, Text).label("search_queries"),
            Iteration.fee_usd,
        )
        .where(*wanted)
        .execution_options(yield_per=FACTS_SLICE)
    )
    facts: list[IterationFacts] = []
    async for rows in result.partitions():
        facts.extend(await asyncio.to_thread(_facts_of, rows, target))
    return facts


def _facts_of(rows: Iterable[Any], target: str) -> list[IterationFacts]:
    return [
        facts_from(
            success=row.success,
            answer_class=row.answer_class,
            extraction=json.loads(row.extraction) if row.success and row.extraction else None,
            target=target,
            cost=row.cost_usd,
            latency_ms=row.latency_ms,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            citations=_json_list(row.citations) if row.success else None,
            sources=_json_list(row.sources) if row.success else None,
            search_queries=_json_list(row.search_queries) if row.success else None,
            fee=row.fee_usd,
        )
        for row in rows
    ]


def _json_list(text: str | None) -> list[Any]:
    """A stored JSON list (read as text), empty when missing."""
    value = json.loads(text) if text else None
    return value if isinstance(value, list) else []


def metrics_for(facts: Sequence[IterationFacts], brands: BrandSet) -> BatchMetrics:
    return compute_metrics(facts, target=brands.target.name, brands=brands.names)


async def _metrics_of(
    session: AsyncSession, batch_run_ids: Sequence[uuid.UUID], brands: BrandSet
) -> BatchMetrics:
    facts = await batch_facts(session, batch_run_ids, target=brands.target.name)
    return await asyncio.to_thread(metrics_for, facts, brands)


async def look(session: AsyncSession, batch: ClaimedBatch, chunk: int) -> int | None:
    """After a chunk of an adaptive batch: tally it and stop the batch or go on
    (:func:`echo_ai.runs.adaptive.look`: the next chunk, or None); the caller then
    finalises as usual. The experiment's row is locked first, as by every transaction
    that changes a batch's outcome (see :func:`_lock_experiment_of`)."""
    assert batch.precision is not None
    precision = batch.precision
    await _lock_experiment_of(session, batch.id)

    async def tally(indices: range) -> tuple[int, int] | None:
        facts = await batch_facts(
            session, [batch.id], target=batch.brands.target.name, indices=indices
        )
        if len(facts) < len(indices):
            return None
        rate = precision.metric.of(await asyncio.to_thread(metrics_for, facts, batch.brands))
        return rate.numerator, rate.denominator

    return await adaptive.look(session, batch.id, precision, chunk, batch.chunk_range, tally)


async def _most_common_error(session: AsyncSession, batch_run_id: uuid.UUID) -> str | None:
    """The commonest error of the batch's failed iterations, as ``code: message`` (their
    messages are the vendor's words or ours, never an exception's text)."""
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


def failed_providers(batches: Iterable[Any]) -> list[str]:
    """The providers (``vendor:model``) of the failed batches among ``batches`` (rows or
    :class:`BatchRun` objects with ``status``, ``provider`` and ``model``): what a round
    stores in ``failed_providers`` and a listing shows."""
    return [
        f"{batch.provider}:{batch.model}" for batch in batches if batch.status == BatchStatus.FAILED
    ]


async def store_metrics(session: AsyncSession, batch: BatchRun, brands: BrandSet) -> BatchMetrics:
    """Compute and keep the batch's metrics.

    The counters (``stored``, ``succeeded``, ``failed``) are not written here: the writer
    moves them with each commit (``stored = stored + n``) and a reopen takes deleted rows
    off, so they are exact at every moment. Setting them from a count read here could
    overwrite an increment committed meanwhile by a chunk still storing its calls.
    """
    metrics = await _metrics_of(session, [batch.id], brands)
    batch.metrics = metrics.model_dump(mode="json")
    batch.cost_usd = metrics.cost.total_usd
    return metrics


async def store_round_metrics(
    session: AsyncSession, experiment_id: uuid.UUID, round_: int
) -> ExperimentRound:
    """Combine the round's finished batches and store the result with the providers it
    includes and whether the round is complete.

    Real and synthetic (demo) batches are never pooled together: each kind that ran has
    its own :class:`Combination` (real first), and ``combined`` keeps the pooled figures
    of the first (real providers when any ran, else demo). Called whenever a batch of the
    round finishes, is settled again or reopened, and after a re-score; callers that
    finish batches hold the experiment's lock, so the last one to store sees every batch
    finished.
    """
    # Columns, not entities: the statuses as stored now, whatever the session holds.
    batches = (
        await session.execute(
            select(
                BatchRun.id,
                BatchRun.status,
                BatchRun.provider,
                BatchRun.model,
                BatchRun.synthetic,
                BatchRun.metrics,
            )
            .where(BatchRun.experiment_id == experiment_id, BatchRun.round == round_)
            .order_by(BatchRun.created_at)
        )
    ).all()
    stored = await session.scalar(
        select(ExperimentRound).where(
            ExperimentRound.experiment_id == experiment_id, ExperimentRound.round == round_
        )
    )
    if stored is None:
        stored = ExperimentRound(experiment_id=experiment_id, round=round_)
        session.add(stored)
    combinations: list[Combination] = []
    if any(batch.status in FINISHED_STATUSES for batch in batches):
        raw = await session.scalar(select(Experiment.brands).where(Experiment.id == experiment_id))
        brands = BrandSet.model_validate(raw)
        for synthetic in (False, True):
            kind = [batch for batch in batches if batch.synthetic == synthetic]
            if kind:
                combinations.append(await _combination(session, kind, brands, synthetic))
    first = combinations[0] if combinations else None
    stored.combined = (
        first.pooled.model_dump(mode="json") if first and first.pooled is not None else None
    )
    stored.visibility = stored.combined["visibility"] if stored.combined else None
    stored.combined_providers = first.providers if first else []
    stored.combinations = [combination.model_dump(mode="json") for combination in combinations]
    stored.failed_providers = failed_providers(batches)
    stored.complete = bool(batches) and all(batch.status in FINISHED_STATUSES for batch in batches)
    await session.flush()
    return stored


async def _combination(
    session: AsyncSession, batches: Sequence[Any], brands: BrandSet, synthetic: bool
) -> Combination:
    """The combination of ``batches`` (rows of one kind, real or synthetic): finished ones
    pooled at the iteration level and averaged with equal weights; the others missing."""
    finished = [batch for batch in batches if batch.status in FINISHED_STATUSES]
    pooled = None
    if finished:
        pooled = await _metrics_of(session, [batch.id for batch in finished], brands)
    per_provider = {
        f"{batch.provider}:{batch.model}": BatchMetrics.model_validate(batch.metrics)
        for batch in finished
        if batch.metrics is not None
    }
    return Combination(
        synthetic=synthetic,
        providers=[f"{batch.provider}:{batch.model}" for batch in finished],
        missing=[
            f"{batch.provider}:{batch.model}"
            for batch in batches
            if batch.status not in FINISHED_STATUSES
        ],
        pooled=pooled,
        equal_weight=equal_weight(per_provider) if len(per_provider) > 1 else None,
    )


async def new_round(session: AsyncSession, experiment_id: uuid.UUID, round_: int) -> None:
    """Note a round just queued: nothing combined yet."""
    session.add(
        ExperimentRound(
            experiment_id=experiment_id,
            round=round_,
            combined=None,
            combined_providers=[],
            combinations=[],
            failed_providers=[],
            complete=False,
        )
    )
    await session.flush()


async def stored_round(
    session: AsyncSession, experiment_id: uuid.UUID, round_: int
) -> ExperimentRound | None:
    return await session.scalar(
        select(ExperimentRound).where(
            ExperimentRound.experiment_id == experiment_id, ExperimentRound.round == round_
        )
    )


async def fill_round_metrics(session: AsyncSession) -> int:
    """Store the combined metrics of every round that has finished batches but none
    stored, or none split by kind (rounds from before they were stored, or from before
    real and synthetic providers were kept apart); how many rounds were filled.

    Idempotent and cheap when there is nothing to do (one query over rounds), so the
    upgrade to the latest schema runs it every time (``echo-ai migrate`` and the embedded
    start pass it to ``migrate.upgrade``).
    """
    has_finished = (
        select(BatchRun.id)
        .where(
            BatchRun.experiment_id == ExperimentRound.experiment_id,
            BatchRun.round == ExperimentRound.round,
            BatchRun.status.in_(FINISHED_STATUSES),
        )
        .exists()
    )
    todo = (
        await session.execute(
            select(ExperimentRound.experiment_id, ExperimentRound.round).where(
                ExperimentRound.combinations.is_(None), has_finished
            )
        )
    ).all()
    for experiment_id, round_ in todo:
        await store_round_metrics(session, experiment_id, round_)
    return len(todo)


async def finalize_if_complete(session: AsyncSession, batch_run_id: uuid.UUID) -> bool:
    """Compute the metrics if every iteration is stored and no other chunk has claimed them.

    The claim is a conditional UPDATE, so of several chunks finishing at once exactly one
    computes the metrics.
    """
    counts = (
        await session.execute(
            select(BatchRun.iterations_requested, BatchRun.stored).where(
                BatchRun.id == batch_run_id
            )
        )
    ).one_or_none()
    if counts is None or counts.stored < counts.iterations_requested:
        return False
    await _lock_experiment_of(session, batch_run_id)
    claimed = await rows_changed(
        session,
        update(BatchRun)
        .where(BatchRun.id == batch_run_id, BatchRun.status.in_(ACTIVE_STATUSES))
        .values(status=BatchStatus.FINALIZING),
    )
    if claimed != 1:
        return False
    batch = await _load_batch(session, batch_run_id)
    assert batch is not None
    metrics = await store_metrics(session, batch, BrandSet.model_validate(batch.experiment.brands))
    if metrics.succeeded == 0:
        commonest = await _most_common_error(session, batch.id)
        # Answers that came back but are not samples are no errors: say what they were.
        apart = [f"{count} {kind}" for kind, count in metrics.not_samples()]
        details = [f"No answer was complete: {', '.join(apart)}."] if apart else []
        if commonest:
            details.append(f"The most common error: {commonest}")
        failure = Failure.of(FailureCode.ALL_ITERATIONS_FAILED, " ".join(details) or None)
        batch.status = BatchStatus.FAILED
        batch.error, batch.error_code = failure.message, failure.code
    else:
        batch.status = BatchStatus.COMPLETED
    batch.finished_at = utcnow()
    await session.flush()
    await store_round_metrics(session, batch.experiment_id, batch.round)
    await refresh_experiment_status(session, batch.experiment_id)
    return True


async def fail(session: AsyncSession, batch_run_id: uuid.UUID, failure: Failure) -> bool:
    """Mark a batch failed (unless it has finished) with why, as users see it (a code and
    a sentence of :mod:`echo_ai.failures`; the caller has logged the cause); whether this
    call ended it (False: it had finished already).

    Chunks still running finish the calls they have in flight; each chunk settles the
    batch again when it ends (:func:`settle_failed`), so counts and metrics end complete.
    """
    return await _stop(session, batch_run_id, BatchStatus.FAILED, failure)


async def _stop(
    session: AsyncSession, batch_run_id: uuid.UUID, status: BatchStatus, failure: Failure
) -> bool:
    """End an active batch with ``status`` and why, then settle what it stored; whether
    this call ended it."""
    await _lock_experiment_of(session, batch_run_id)
    now = utcnow()
    stopped = await rows_changed(
        session,
        update(BatchRun)
        .where(BatchRun.id == batch_run_id, BatchRun.status.in_(ACTIVE_STATUSES))
        .values(
            status=status,
            error=failure.message,
            error_code=failure.code,
            finished_at=now,
            updated_at=now,
        ),
    )
    if stopped == 1:
        await settle_failed(session, batch_run_id)
    return stopped == 1


async def exhaust(session: AsyncSession, batch_run_id: uuid.UUID, failure: Failure) -> bool:
    """Mark a batch stopped by a budget (unless it has finished): ``budget_exhausted``,
    with ``failure`` (code ``budget_exhausted``, the refusal's figures in its message).

    Settled like a failed batch: calls in flight finish and are stored, and each chunk
    settles the batch again as it ends (:func:`settle_failed`). A resume reopens it
    (:func:`reopen_unfinished`) once the budget allows. Whether this call ended it.
    """
    return await _stop(session, batch_run_id, BatchStatus.BUDGET_EXHAUSTED, failure)


_STOPPED = (BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.BUDGET_EXHAUSTED)


async def settle_failed(
    session: AsyncSession, batch_run_id: uuid.UUID, *, combine: bool = True
) -> None:
    """Counts and metrics of a failed, cancelled or budget-stopped batch from what it
    stored (its partial results), and its round's combined metrics (unless ``combine``
    is False: the caller stores them once for several batches)."""
    status = await session.scalar(select(BatchRun.status).where(BatchRun.id == batch_run_id))
    if status not in _STOPPED:
        return
    await _lock_experiment_of(session, batch_run_id)
    batch = await _load_batch(session, batch_run_id)
    if batch is None or batch.status not in _STOPPED:
        return
    before = batch.metrics
    await store_metrics(session, batch, BrandSet.model_validate(batch.experiment.brands))
    await session.flush()
    # Every chunk of a stopped batch settles it as it ends; the round is pooled again only
    # when the batch's figures moved (a chunk stored more), not once per chunk.
    if combine and batch.metrics != before:
        await store_round_metrics(session, batch.experiment_id, batch.round)
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
    cancelled_by = Failure.of(FailureCode.CANCELLED)
    result = await session.execute(
        update(BatchRun)
        .where(BatchRun.experiment_id == experiment_id, BatchRun.status.in_(ACTIVE_STATUSES))
        .values(
            status=BatchStatus.CANCELLED,
            error=cancelled_by.message,
            error_code=cancelled_by.code,
            finished_at=now,
            updated_at=now,
        )
        .returning(BatchRun.id, BatchRun.round)
        .execution_options(synchronize_session=False)
    )
    rows = result.all()
    cancelled = [row.id for row in rows]
    for batch_run_id in cancelled:
        await settle_failed(session, batch_run_id, combine=False)
    for round_ in sorted({row.round for row in rows}):
        await store_round_metrics(session, experiment_id, round_)
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


def round_status(statuses: Iterable[BatchStatus]) -> ExperimentStatus:
    """The status of a run (round) from its batches' statuses: ``queued`` until one has
    started; ``running`` until all have finished; then ``cancelled`` when every batch was,
    ``partial`` when some completed and some failed (the round names the failed
    providers), ``budget_exhausted`` when a budget stopped some and none failed (beside
    completed or cancelled ones: a resume runs what is missing once the budget allows),
    ``completed`` when some completed and none failed (cancelled batches beside completed
    ones: a user stopped them, nothing went wrong), else ``failed`` (none completed;
    cancelled or budget-stopped batches beside failed ones do not hide the failure; a
    failure beside completed and budget-stopped batches is ``partial``).

    The one rule for an experiment's status (:func:`refresh_experiment_status`) and for
    each run in its history.
    """
    found = set(statuses)
    if not found or found <= {BatchStatus.QUEUED}:
        return ExperimentStatus.QUEUED
    if not found <= FINISHED_STATUSES:
        return ExperimentStatus.RUNNING
    completed = BatchStatus.COMPLETED in found
    failed = BatchStatus.FAILED in found
    if found == {BatchStatus.CANCELLED}:
        return ExperimentStatus.CANCELLED
    if completed and failed:
        return ExperimentStatus.PARTIAL
    if BatchStatus.BUDGET_EXHAUSTED in found and not failed:
        return ExperimentStatus.BUDGET_EXHAUSTED
    if completed:
        return ExperimentStatus.COMPLETED
    return ExperimentStatus.FAILED


async def refresh_experiment_status(session: AsyncSession, experiment_id: uuid.UUID) -> None:
    """Set the experiment's status from its latest run's batches once all have finished,
    by :func:`round_status`.

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
    status = round_status(statuses)
    if status not in FINISHED_EXPERIMENT_STATUSES:
        return
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
                BatchRun.experiment_id == experiment_id, BatchRun.status.in_(ACTIVE_STATUSES)
            )
        )
    )


async def reopen_unfinished(
    session: AsyncSession,
    experiment_id: uuid.UUID,
    *,
    now: datetime,
    lease_ttl: timedelta,
    waiting: WaitingCheck | None = None,
) -> int:
    """Let the latest run's batches run again what they lack: missing iterations and
    failed ones (earlier runs of a recurring experiment are history and stay as they are).

    Refuses (:class:`~echo_ai.runs.leases.BatchBusy`, changing nothing) while a batch it
    would reopen is held by a process (its lease, at ``now``) or, per ``waiting``, has
    chunks waiting in the broker: running its missing iterations now would pay for calls
    that are already on their way. The broker is asked first, before any lock is taken
    (a slow Redis must not hold the experiment's row, or SQLite's write lock); the leases
    are checked under the lock, and each is cleared only if it has still lapsed then.

    Failed iterations are deleted so that their indices run again (an outage or a bad key
    must not shrink the sample for good), and taken off the batch's counters. A reopened
    batch has no metrics until it finishes again, and the round's combined metrics are
    stored again without it; the experiment is running again. Returns how many batches
    were reopened.
    """
    latest = _latest_round(experiment_id)
    asked = list(
        await session.scalars(
            select(BatchRun.id).where(
                BatchRun.experiment_id == experiment_id, BatchRun.round == latest
            )
        )
    )
    queued = await waiting(asked) if waiting is not None and asked else set()
    await _lock_experiment(session, experiment_id)  # first, like every finishing change
    batches = list(
        await session.scalars(
            select(BatchRun)
            .where(BatchRun.experiment_id == experiment_id, BatchRun.round == latest)
            .execution_options(populate_existing=True)
        )
    )
    has_failed = set(
        await session.scalars(
            select(Iteration.batch_run_id)
            .where(
                Iteration.batch_run_id.in_([batch.id for batch in batches]),
                Iteration.success.is_(False),
            )
            .distinct()
        )
    )
    todo = [
        batch
        for batch in batches
        if batch.status != BatchStatus.CANCELLED
        and (batch.status != BatchStatus.COMPLETED or batch.id in has_failed)
    ]
    if waiting is not None and any(batch.id not in asked for batch in todo):
        raise leases.BatchBusy("a new run of the experiment has just started: try again")
    await _refuse_if_busy(session, todo, now=now, lease_ttl=lease_ttl, queued=queued)
    reopened: list[BatchRun] = []
    for batch in todo:
        # The lease is freed for whichever process runs the batch now, only if it has
        # still lapsed: a process may have taken the batch since the check (a start-up's
        # take-over does not wait for the experiment's lock).
        freed = await rows_changed(
            session,
            update(BatchRun)
            .where(BatchRun.id == batch.id, leases.free(now, lease_ttl))
            .values(lease_owner=None),
        )
        if freed != 1:
            await _refuse_if_busy(session, [batch], now=now, lease_ttl=lease_ttl, queued=set())
            raise leases.BatchBusy(f"batch {batch.id} has just been taken by another process")
        deleted = await rows_changed(
            session,
            delete(Iteration).where(
                Iteration.batch_run_id == batch.id, Iteration.success.is_(False)
            ),
        )
        # In SQL, like the writer's increments (a read-modify-write here could lose one).
        batch.stored = BatchRun.stored - deleted
        batch.failed = BatchRun.failed - deleted
        batch.metrics = None  # running again: its figures come when it finishes
        batch.status = BatchStatus.RUNNING
        batch.error = batch.error_code = None
        batch.finished_at = None
        batch.heartbeat_at = now  # alive: not for the scheduler to re-dispatch
        reopened.append(batch)
    await session.flush()
    for batch in reopened:  # the counters' new values, for callers that read them
        await session.refresh(batch, ["stored", "failed"])
    if reopened:
        await store_round_metrics(session, experiment_id, reopened[0].round)
        await session.execute(
            update(Experiment)
            .where(Experiment.id == experiment_id)
            .values(status=ExperimentStatus.RUNNING, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(reopened)


WaitingCheck = Callable[[Sequence[uuid.UUID]], Awaitable[set[uuid.UUID]]]
"""Which of these batches have chunks waiting in the broker (the Celery executor's
:meth:`echo_ai.execution.broker.QueuedChunks.waiting`)."""


async def _refuse_if_busy(
    session: AsyncSession,
    batches: Sequence[BatchRun],
    *,
    now: datetime,
    lease_ttl: timedelta,
    queued: set[uuid.UUID],
) -> None:
    """Refuse if one of the batches is held (read now, under the experiment's lock) or was
    found waiting in the broker (``queued``, asked before the lock)."""
    ids = [batch.id for batch in batches]
    held = await leases.holders(session, ids, now=now, ttl=lease_ttl)
    if held:
        raise leases.BatchBusy("; ".join(holder.describe(now, lease_ttl) for holder in held))
    if queued.intersection(ids):
        names = ", ".join(
            f"{batch.id} ({batch.provider}:{batch.model})"
            for batch in batches
            if batch.id in queued
        )
        raise leases.BatchBusy(
            f"batch {names} has chunks waiting in the queue for a worker; they will run "
            "its missing iterations: try again once they have started"
        )
