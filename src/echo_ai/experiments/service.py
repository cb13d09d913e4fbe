"""Experiments: create (with their batch runs), find, report, re-score and resume."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import String, cast, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from echo_ai.analysis.extraction import BrandMatcher, Extraction
from echo_ai.analysis.metrics import BatchMetrics
from echo_ai.brands import service as brand_service
from echo_ai.brands.schemas import BrandSet
from echo_ai.db import newer_first_after, utcnow
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.experiments import schedules
from echo_ai.experiments.models import Experiment, ExperimentStatus
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.providers.base import Citation
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs import service as run_service
from echo_ai.runs.models import FINISHED_STATUSES, BatchRun, Iteration
from echo_ai.runs.scoring import citations_from

MIN_ID_PREFIX = 4
RECENT_RUNS = 20
"""Runs an experiment's detail shows (the latest and its history); older ones are paged."""


async def create(
    session: AsyncSession,
    data: ExperimentCreate,
    *,
    chunk_size: int,
    workspace_id: uuid.UUID | None = None,
) -> Experiment:
    """Store the experiment and queue its first run (one batch per provider)."""
    if data.brand_profile_id is not None:
        if workspace_id is None:
            raise AppError("brand profiles belong to a workspace: give the brands instead")
        profile = await brand_service.get(session, workspace_id, data.brand_profile_id)
        try:
            data = data.with_brands(BrandSet.model_validate(profile.brands))
        except ValueError as error:
            raise AppError(str(error)) from None
    assert data.brands is not None  # the schema requires brands or a profile
    now = utcnow()
    experiment = Experiment(
        workspace_id=workspace_id,
        name=data.display_name,
        prompt=data.prompt,
        brands=data.brands.model_dump(mode="json"),
        brands_revision=1,
        brand_profile_id=data.brand_profile_id,
        providers=list(data.providers),
        iterations=data.iterations,
        temperature=data.temperature,
        grounding=data.grounding,
        require_grounding=data.require_grounding,
        user_location=data.user_location.model_dump() if data.user_location else None,
        demo_probabilities=data.demo_probabilities,
        status=ExperimentStatus.QUEUED,
        runs=0,
    )
    if data.schedule is not None:
        schedules.set_schedule(
            experiment, cron=data.schedule.cron, timezone=data.schedule.timezone, now=now
        )
    session.add(experiment)
    await session.flush()
    await start_run(session, experiment, chunk_size=chunk_size, now=now)
    return experiment


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
        run_service.new_batch(
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
    await run_service.new_round(session, experiment.id, experiment.runs)
    return batches


async def resolve_id(session: AsyncSession, text: str) -> uuid.UUID:
    """A full experiment id, or a unique prefix of one (as `experiments list` shows)."""
    text = text.strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    if len(text) < MIN_ID_PREFIX or len(text) > 8 or not all(c in "0123456789abcdef" for c in text):
        raise NotFound(f"no experiment with id {text!r}")
    matches = list(
        await session.scalars(
            select(Experiment.id).where(cast(Experiment.id, String).like(f"{text}%")).limit(2)
        )
    )
    if not matches:
        raise NotFound(f"no experiment with id {text!r}")
    if len(matches) > 1:
        raise AppError(f"id prefix {text!r} is ambiguous: give more characters")
    return matches[0]


async def get(
    session: AsyncSession,
    experiment_id: uuid.UUID,
    *,
    workspace_id: uuid.UUID | None = None,
    runs: int | None = None,
) -> Experiment:
    """The experiment with its batch runs: of every run, or of its latest ``runs`` runs
    (a recurring experiment's history grows without bound). Given a workspace, one of
    another workspace is not found (its id reveals nothing)."""
    query = select(Experiment).where(Experiment.id == experiment_id)
    if workspace_id is not None:
        query = query.where(Experiment.workspace_id == workspace_id)
    experiment = await session.scalar(query)
    if experiment is None:
        raise NotFound(f"no experiment with id {experiment_id}")
    await _load_batches(session, [experiment], runs=runs)
    return experiment


async def list_recent(
    session: AsyncSession,
    *,
    limit: int = 20,
    status: ExperimentStatus | None = None,
    workspace_id: uuid.UUID | None = None,
    scheduled: bool | None = None,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[Experiment]:
    """Newest first, each with its latest run's batch runs; ``before`` (created_at, id)
    continues a listing (cursor pagination)."""
    query = (
        select(Experiment).order_by(Experiment.created_at.desc(), Experiment.id.desc()).limit(limit)
    )
    if status is not None:
        query = query.where(Experiment.status == status)
    if workspace_id is not None:
        query = query.where(Experiment.workspace_id == workspace_id)
    if scheduled is not None:
        has_schedule = Experiment.schedule_cron.is_not(None)
        query = query.where(has_schedule if scheduled else ~has_schedule)
    if before is not None:
        query = query.where(newer_first_after(Experiment.created_at, Experiment.id, before))
    found = list(await session.scalars(query))
    await _load_batches(session, found, runs=1)
    return found


async def _load_batches(
    session: AsyncSession, experiments: list[Experiment], *, runs: int | None
) -> None:
    """Fill ``batch_runs`` of the experiments in one query (all runs, or the latest ``runs``)."""
    if not experiments:
        return
    query = (
        select(BatchRun)
        .join(Experiment, Experiment.id == BatchRun.experiment_id)
        .where(BatchRun.experiment_id.in_([experiment.id for experiment in experiments]))
        .order_by(BatchRun.created_at)
    )
    if runs is not None:
        query = query.where(BatchRun.round > Experiment.runs - runs)
    by_experiment: dict[uuid.UUID, list[BatchRun]] = {e.id: [] for e in experiments}
    for batch in await session.scalars(query):
        by_experiment[batch.experiment_id].append(batch)
    for experiment in experiments:
        set_committed_value(experiment, "batch_runs", by_experiment[experiment.id])


async def run_history(
    session: AsyncSession, experiment: Experiment, *, limit: int, before_round: int | None
) -> list[BatchRun]:
    """Batch runs of the experiment's runs, newest run first, ``limit`` runs at a time
    (``before_round`` continues from the last page)."""
    newest = experiment.runs if before_round is None else before_round - 1
    return list(
        await session.scalars(
            select(BatchRun)
            .where(
                BatchRun.experiment_id == experiment.id,
                BatchRun.round <= newest,
                BatchRun.round > newest - limit,
            )
            .order_by(BatchRun.round.desc(), BatchRun.created_at)
        )
    )


async def delete(session: AsyncSession, experiment: Experiment) -> None:
    """Delete a finished experiment with its runs and stored answers."""
    if any(batch.status not in FINISHED_STATUSES for batch in experiment.batch_runs):
        raise Conflict("the experiment is still running: wait for it to finish")
    await session.delete(experiment)
    await session.flush()


async def iterations_page(
    session: AsyncSession,
    experiment: Experiment,
    *,
    limit: int,
    after: tuple[uuid.UUID, int] | None = None,
) -> list[Iteration]:
    """A page of the experiment's iterations in (batch run, index) order; ``after`` is the
    (batch run id, index) of the last one already seen (keyset pagination: every page
    costs the same, however deep)."""
    query = (
        select(Iteration)
        .where(Iteration.batch_run_id.in_([batch.id for batch in experiment.batch_runs]))
        .order_by(Iteration.batch_run_id, Iteration.index)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(Iteration.batch_run_id, Iteration.index) > tuple_(*after))
    return list(await session.scalars(query))


async def stored_counts(session: AsyncSession, experiment: Experiment) -> dict[uuid.UUID, int]:
    """Iterations already stored per batch run (to resume progress where it was), from
    the batches' counters."""
    rows = await session.execute(
        select(BatchRun.id, BatchRun.stored).where(
            BatchRun.id.in_([batch.id for batch in experiment.batch_runs])
        )
    )
    return {row.id: row.stored for row in rows}


async def answers(session: AsyncSession, experiment: Experiment) -> list[str]:
    """Every stored answer of the experiment (for re-scoring and measurements)."""
    rows = await session.scalars(
        select(Iteration.answer)
        .join(BatchRun)
        .where(BatchRun.experiment_id == experiment.id, Iteration.answer.is_not(None))
        .order_by(BatchRun.created_at, Iteration.index)
    )
    return [answer for answer in rows if answer is not None]


def summary(experiment: Experiment) -> dict[str, object]:
    """A short JSON-safe description for listings."""
    return {
        "id": str(experiment.id),
        "name": experiment.name,
        "status": str(experiment.status),
        "created_at": experiment.created_at.isoformat(),
        "providers": list(experiment.providers),
        "iterations": experiment.iterations,
        "synthetic": any(batch.synthetic for batch in experiment.batch_runs),
    }


@dataclass(frozen=True)
class ExperimentReport:
    experiment: Experiment
    batches: list[tuple[BatchRun, BatchMetrics | None]]
    """The batches of the latest run, with their metrics once finished."""
    combined: BatchMetrics | None
    """The latest run's finished batches pooled at the iteration level, as stored when the
    last of them finished (None until one has)."""
    combined_providers: list[str]
    """The providers (``vendor:model``) whose batches ``combined`` includes."""
    combined_partial: bool
    """Some batch of the latest run has not finished: ``combined`` leaves it out."""
    earlier: list[tuple[BatchRun, BatchMetrics | None]]
    """The batches of earlier runs (a recurring experiment's history), newest first."""

    @property
    def synthetic(self) -> bool:
        return any(batch.synthetic for batch, _ in self.batches)


def latest_batches(experiment: Experiment) -> list[BatchRun]:
    """The batch runs of the experiment's latest run (its batch runs must be loaded)."""
    return [batch for batch in experiment.batch_runs if batch.round == experiment.runs]


async def report(session: AsyncSession, experiment: Experiment) -> ExperimentReport:
    """Metrics of the latest run per provider and combined, and the earlier runs: stored
    values only (one query for the round; no iteration is read)."""
    latest = experiment.runs
    with_metrics = [
        (batch, BatchMetrics.model_validate(batch.metrics) if batch.metrics else None)
        for batch in experiment.batch_runs
    ]
    batches = [item for item in with_metrics if item[0].round == latest]
    earlier = sorted(
        (item for item in with_metrics if item[0].round != latest),
        key=lambda item: (-item[0].round, item[0].created_at),
    )
    stored = await run_service.stored_round(session, experiment.id, latest)
    combined = None
    if stored is not None and stored.combined is not None:
        combined = BatchMetrics.model_validate(stored.combined)
    return ExperimentReport(
        experiment=experiment,
        batches=batches,
        combined=combined,
        combined_providers=list(stored.combined_providers) if stored is not None else [],
        combined_partial=stored is None or not stored.complete,
        earlier=earlier,
    )


RESCORE_SLICE = 500
"""Answers re-extracted at a time, in a worker thread (memory and pauses stay bounded)."""


class AnswerMatcher(Protocol):
    """Finds the tracked brands in an answer (``BrandMatcher``)."""

    def extract(
        self,
        text: str,
        *,
        citations: Sequence[Citation] = (),
        sources: Sequence[Citation] = (),
    ) -> Extraction: ...


async def rescore(
    session: AsyncSession,
    experiment: Experiment,
    *,
    brands: BrandSet | None = None,
    matcher: Callable[[BrandSet], AnswerMatcher] = BrandMatcher,
) -> Experiment:
    """Re-extract every stored answer with (new) brand definitions; no provider is called.

    The metrics each batch had before are appended to its ``metrics_history``; each batch's
    metrics and each round's combined metrics are stored again. The extraction runs in a
    worker thread, a slice of answers at a time, so the event loop serves other requests
    meanwhile; ``matcher`` builds the extractor for the brands (a test passes a double).
    """
    if any(batch.status not in FINISHED_STATUSES for batch in experiment.batch_runs):
        raise Conflict("the experiment is still running: re-score it once it has finished")
    if brands is not None:
        experiment.brands = brands.model_dump(mode="json")
    current = BrandSet.model_validate(experiment.brands)
    experiment.brands_revision += 1
    extractor = matcher(current)
    for batch in experiment.batch_runs:
        await _rescore_answers(session, batch.id, extractor)
        if batch.metrics is not None:
            batch.metrics_history = [
                *batch.metrics_history,
                {"brands_revision": batch.brands_revision, "metrics": batch.metrics},
            ]
            await run_service.store_metrics(session, batch, current)
        batch.brands_revision = experiment.brands_revision
    await session.flush()
    for round_ in sorted({batch.round for batch in experiment.batch_runs}):
        await run_service.store_round_metrics(session, experiment.id, round_)
    return experiment


async def _rescore_answers(
    session: AsyncSession, batch_run_id: uuid.UUID, extractor: AnswerMatcher
) -> None:
    after = -1
    while True:
        rows = (
            await session.execute(
                select(
                    Iteration.id,
                    Iteration.index.label("position"),  # a Row's .index is tuple.index
                    Iteration.answer,
                    Iteration.citations,
                    Iteration.sources,
                )
                .where(
                    Iteration.batch_run_id == batch_run_id,
                    Iteration.index > after,
                    Iteration.success.is_(True),
                )
                .order_by(Iteration.index)
                .limit(RESCORE_SLICE)
            )
        ).all()
        if not rows:
            return
        rescored = await asyncio.to_thread(_extract_all, extractor, rows)
        await session.execute(update(Iteration), rescored)
        after = rows[-1].position


def _extract_all(extractor: AnswerMatcher, rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": row.id,
            "extraction": extractor.extract(
                row.answer or "",
                citations=citations_from(row.citations),
                sources=citations_from(row.sources),
            ).to_dict(),
        }
        for row in rows
    ]


async def cancel(session: AsyncSession, experiment: Experiment) -> list[uuid.UUID]:
    """Cancel the experiment's queued and running batches; the ids of those cancelled.

    Iterations already stored stay. A finished experiment is a conflict.
    """
    cancelled = await run_service.cancel(session, experiment.id)
    if not cancelled:
        raise Conflict("the experiment has already finished: there is nothing to cancel")
    return cancelled


def rerun_input(experiment: Experiment) -> ExperimentCreate:
    """The configuration of an experiment, to run it again as a new one."""
    return ExperimentCreate.model_validate(
        {
            "name": experiment.name,
            "prompt": experiment.prompt,
            "brands": experiment.brands,
            "providers": list(experiment.providers),
            "iterations": experiment.iterations,
            "temperature": experiment.temperature,
            "grounding": experiment.grounding,
            "require_grounding": experiment.require_grounding,
            "user_location": experiment.user_location,
            "demo_probabilities": experiment.demo_probabilities,
        }
    )


async def reopen(session: AsyncSession, experiment: Experiment) -> int:
    """Let an interrupted or failed experiment run its missing iterations; batches reopened."""
    reopened = await run_service.reopen_unfinished(session, experiment.id)
    if reopened:
        experiment.status = ExperimentStatus.RUNNING
        await session.flush()
    return reopened
