"""Experiment use cases: queue, re-run, cancel, re-score, delete, resume; finding and
reporting them.

The use cases take the acting :class:`~echo_ai.privacy.audit.Actor` (a user, an API key,
the command line), write their audit event and start work only after the caller's
transaction commits (:func:`echo_ai.db.after_commit`), so the API, the CLI and the web
pages share them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Row, String, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import BrandMatcher, Extraction
from echo_ai.analysis.metrics import BatchMetrics, Combination
from echo_ai.analysis.scoring import citations_from
from echo_ai.billing.estimate import Estimate
from echo_ai.brands import service as brand_service
from echo_ai.db import after_commit, keyset_after, utcnow
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.execution.executor import Executor
from echo_ai.execution.providers import ensure_ready
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments.schemas import ExperimentCreate, ExperimentReport
from echo_ai.observability import record_experiment_created
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.providers.base import Citation, ProviderNotConfigured
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs import service as run_service
from echo_ai.runs.models import (
    ACTIVE_JUDGING_STATUSES,
    FINISHED_STATUSES,
    BatchRun,
    Experiment,
    ExperimentStatus,
    Iteration,
    SentimentJudging,
)
from echo_ai.schedules import service as schedule_service
from echo_ai.security.scrub import scrub
from echo_ai.workspaces import admission, quotas
from echo_ai.workspaces.models import Workspace

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
    """Store the experiment and its first run (one batch per provider), without auditing
    or starting it: :func:`queue` is the use case; this is its storage step (and the
    set-up of tests and benchmarks)."""
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
    name, prompt, persona = data.display_name, data.prompt, data.persona
    if workspace_id is not None and await _scrubs(session, workspace_id):
        name, prompt = scrub(name), scrub(prompt)
        persona = None if persona is None else scrub(persona)
    experiment = Experiment(
        workspace_id=workspace_id,
        name=name,
        prompt=prompt,
        persona=persona,
        brands=data.brands.model_dump(mode="json"),
        brands_revision=1,
        brand_profile_id=data.brand_profile_id,
        providers=list(data.providers),
        iterations=data.iterations,
        precision=None if data.precision is None else data.precision.stored(),
        temperature=data.temperature,
        grounding=data.grounding,
        require_grounding=data.require_grounding,
        user_location=data.user_location.model_dump() if data.user_location else None,
        demo_probabilities=data.demo_probabilities,
        budget_usd=data.budget_amount,
        runs=0,
    )
    if data.schedule is not None:
        schedule_service.apply(experiment, data.schedule, now=now)
    session.add(experiment)
    await session.flush()
    await run_service.start_run(session, experiment, chunk_size=chunk_size, now=now)
    return experiment


class ProviderUnavailable(AppError):
    code = "provider_not_configured"


async def _scrubs(session: AsyncSession, workspace_id: uuid.UUID) -> bool:
    """Whether the workspace has e-mail addresses and phone numbers scrubbed from
    prompts and answers before storage."""
    return bool(
        await session.scalar(
            select(Workspace.scrub_personal_data).where(Workspace.id == workspace_id)
        )
    )


async def check_providers(
    session: AsyncSession,
    runtime: Runtime,
    specs: Sequence[ProviderSpec],
    workspace_id: uuid.UUID | None,
) -> None:
    """Refuse, before anything is stored, a provider whose key or base URL is missing
    (on the server, and among the keys the workspace stored)."""
    try:
        await ensure_ready(session, runtime.settings, specs, workspace_id=workspace_id)
    except ProviderNotConfigured as error:
        raise ProviderUnavailable(error.message) from None


@dataclass(frozen=True)
class Queued:
    """An experiment :func:`queue` stored, with the estimate it was admitted with."""

    experiment: Experiment
    estimate: Estimate


async def queue(
    session: AsyncSession,
    data: ExperimentCreate,
    *,
    workspace_id: uuid.UUID,
    actor: Actor,
    runtime: Runtime,
    rerun_of: uuid.UUID | None = None,
) -> Queued:
    """Store an experiment in the workspace, audit it, and start it on the runtime's
    executor once the transaction has committed; the experiment with the estimate it was
    admitted with. A provider without its key, or a run the workspace's plan or budget
    does not allow (:func:`echo_ai.workspaces.admission.admit`; a schedule past the plan's
    ``scheduled_experiments``), is refused before anything is stored or sent."""
    await check_providers(session, runtime, data.provider_specs, workspace_id)
    now = utcnow()
    estimated = await admission.admit(
        session,
        workspace_id,
        prompt=data.prompt,
        providers=data.provider_specs,
        iterations=data.iterations,
        grounding=data.grounding,
        settings=runtime.settings,
        now=now,
        experiment_budget_usd=data.budget_amount,
    )
    if data.schedule is not None:
        await quotas.admit_schedule(session, workspace_id, settings=runtime.settings)
    created = await create(
        session, data, chunk_size=runtime.settings.runner.chunk_size, workspace_id=workspace_id
    )
    details: dict[str, object] = (
        {"providers": data.providers, "iterations": data.iterations}
        if rerun_of is None
        else {"rerun_of": str(rerun_of)}
    )
    await audit.record_about(
        session,
        Action.EXPERIMENT_CREATED,
        created,
        target_type="experiment",
        actor=actor,
        details=details,
    )

    async def start() -> None:
        record_experiment_created()
        await runtime.executor.run_experiment(created.id)

    after_commit(session, start)
    return Queued(created, estimated)


async def rerun(
    session: AsyncSession,
    experiment: Experiment,
    *,
    actor: Actor,
    runtime: Runtime,
) -> Queued:
    """Queue a new experiment with the configuration of ``experiment``."""
    assert experiment.workspace_id is not None
    return await queue(
        session,
        rerun_input(experiment),
        workspace_id=experiment.workspace_id,
        actor=actor,
        runtime=runtime,
        rerun_of=experiment.id,
    )


async def resolve_id(
    session: AsyncSession, text: str, *, workspace_id: uuid.UUID | None = None
) -> uuid.UUID:
    """A full experiment id, or a unique prefix of one (as `experiments list` shows) among
    the workspace's experiments when one is given."""
    text = text.strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    if len(text) < MIN_ID_PREFIX or len(text) > 8 or not all(c in "0123456789abcdef" for c in text):
        raise NotFound(f"no experiment with id {text!r}")
    query = select(Experiment.id).where(cast(Experiment.id, String).like(f"{text}%")).limit(2)
    if workspace_id is not None:
        query = query.where(Experiment.workspace_id == workspace_id)
    matches = list(await session.scalars(query))
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
    experiment = await run_service.find_experiment(session, experiment_id, workspace_id)
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
        query = query.where(
            keyset_after((Experiment.created_at, Experiment.id), before, descending=True)
        )
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
    (``before_round`` continues from the last page). Rounds are numbered without gaps, so
    a page is a range of rounds."""
    newest = experiment.runs if before_round is None else before_round - 1
    query = (
        select(BatchRun)
        .where(BatchRun.experiment_id == experiment.id, BatchRun.round > newest - limit)
        .order_by(BatchRun.round.desc(), BatchRun.created_at)
    )
    if before_round is not None:
        query = query.where(keyset_after((BatchRun.round,), (before_round,), descending=True))
    return list(await session.scalars(query))


async def delete(session: AsyncSession, experiment: Experiment, *, actor: Actor) -> None:
    """Delete a finished experiment with its runs and stored answers."""
    if any(batch.status not in FINISHED_STATUSES for batch in experiment.batch_runs):
        raise Conflict("the experiment is still running: wait for it to finish")
    await session.delete(experiment)
    await session.flush()
    await audit.record_about(
        session,
        Action.EXPERIMENT_DELETED,
        experiment,
        target_type="experiment",
        actor=actor,
    )


@dataclass(frozen=True)
class DeletionSummary:
    """What deleting an experiment removes, to name it before asking to confirm."""

    runs: int
    batch_runs: int
    answers: int
    """Iterations stored (answers and failed attempts alike)."""
    scheduled: bool


async def deletion_summary(session: AsyncSession, experiment: Experiment) -> DeletionSummary:
    """Counts of what :func:`delete` would remove: one aggregate over the experiment's
    batch runs and their stored counters (no iteration is read)."""
    batches, stored = (
        await session.execute(
            select(func.count(BatchRun.id), func.coalesce(func.sum(BatchRun.stored), 0)).where(
                BatchRun.experiment_id == experiment.id
            )
        )
    ).one()
    return DeletionSummary(
        runs=experiment.runs,
        batch_runs=int(batches),
        answers=int(stored),
        scheduled=experiment.schedule_cron is not None,
    )


def batch_order(experiment: Experiment) -> list[uuid.UUID]:
    """The experiment's batch runs in the order their iterations are listed and exported:
    by run, then as created (its batch runs must be loaded). A new run's batches come
    last, so a cursor keeps its place while runs are added."""
    ordered = sorted(experiment.batch_runs, key=lambda b: (b.round, b.created_at, b.id))
    return [batch.id for batch in ordered]


async def iteration_rows(
    session: AsyncSession,
    batch_ids: Sequence[uuid.UUID],
    *columns: InstrumentedAttribute[Any] | type[Iteration],
    limit: int,
    after: tuple[uuid.UUID, int] | None = None,
) -> list[Row[Any]]:
    """Up to ``limit`` rows of ``columns`` of the iterations of ``batch_ids``, in that
    batch order then by index; ``after`` is the (batch run id, index) of the last row
    already read, and must name one of ``batch_ids`` (keyset pagination).

    One query per batch reached, each ``batch_run_id = b AND index > i ORDER BY index``:
    an index range that starts at the position, so a page costs the same at any depth.
    (A single ``(batch_run_id, index) > (b, i)`` over all the batches makes PostgreSQL
    scan from the start of the batch.)
    """
    start, last_index = (0, -1) if after is None else (batch_ids.index(after[0]), after[1])
    rows: list[Row[Any]] = []
    for batch_id in batch_ids[start:]:
        found = await session.execute(
            select(*columns)
            .where(
                Iteration.batch_run_id == batch_id,
                keyset_after((Iteration.index,), (last_index,)),
            )
            .order_by(Iteration.index)
            .limit(limit - len(rows))
        )
        rows.extend(found)
        if len(rows) == limit:
            break
        last_index = -1
    return rows


async def iterations_page(
    session: AsyncSession,
    experiment: Experiment,
    *,
    limit: int,
    after: tuple[uuid.UUID, int] | None = None,
) -> list[Iteration]:
    """A page of the experiment's iterations in :func:`batch_order`, then by index;
    ``after`` is the (batch run id, index) of the last one already seen, of one of the
    experiment's batch runs."""
    rows = await iteration_rows(
        session, batch_order(experiment), Iteration, limit=limit, after=after
    )
    return [row[0] for row in rows]


async def answers(session: AsyncSession, experiment: Experiment) -> list[str]:
    """Every stored answer of the experiment, in order (what a re-score must leave
    unchanged: the tests and benchmarks compare them)."""
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
        "failed_providers": run_service.failed_providers(latest_batches(experiment)),
        "created_at": experiment.created_at.isoformat(),
        "providers": list(experiment.providers),
        "iterations": experiment.iterations,
        "synthetic": any(batch.synthetic for batch in experiment.batch_runs),
    }


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
        combinations=[
            Combination.model_validate(c) for c in (stored and stored.combinations) or []
        ],
    )


async def load_report(
    session: AsyncSession, experiment_id: uuid.UUID, *, workspace_id: uuid.UUID | None = None
) -> ExperimentReport:
    """The report of an experiment's latest run and its recent history (fresh from the
    database: after a use case changed it, this is what the caller shows)."""
    session.expire_all()
    experiment = await get(session, experiment_id, workspace_id=workspace_id, runs=RECENT_RUNS)
    return await report(session, experiment)


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
    actor: Actor,
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
    judging = await session.scalar(
        select(SentimentJudging.id).where(
            SentimentJudging.experiment_id == experiment.id,
            SentimentJudging.status.in_(ACTIVE_JUDGING_STATUSES),
        )
    )
    if judging is not None:
        raise Conflict("its sentiment is being judged: re-score it once the judging has ended")
    await refuse_redacted(session, [batch.id for batch in experiment.batch_runs])
    if brands is not None:
        experiment.brands = brands.model_dump(mode="json")
    current = BrandSet.model_validate(experiment.brands)
    experiment.brands_revision += 1
    experiment.sentiment_judge = None  # every answer is the lexicon's again
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
    await audit.record_about(
        session,
        Action.EXPERIMENT_RESCORED,
        experiment,
        target_type="experiment",
        actor=actor,
        details={"brands_revision": experiment.brands_revision},
    )
    return experiment


class AnswersRedacted(Conflict):
    """A re-score of an experiment some of whose answers the retention task redacted:
    their text is gone, so they cannot be scored again (``details``: ``redacted`` rows,
    the first ``redacted_at``)."""

    code = "answers_redacted"

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


async def refuse_redacted(session: AsyncSession, batch_ids: Sequence[uuid.UUID]) -> None:
    """Raise :class:`AnswersRedacted` if any answer of the batches was redacted."""
    if not batch_ids:
        return
    count, first = (
        await session.execute(
            select(func.count(), func.min(Iteration.redacted_at)).where(
                Iteration.batch_run_id.in_(batch_ids), Iteration.redacted_at.is_not(None)
            )
        )
    ).one()
    if count and first is not None:
        raise AnswersRedacted(
            f"{count} answer(s) of this experiment were redacted by the retention policy "
            f"(from {first:%Y-%m-%d}): their text is gone, so the experiment cannot be "
            "re-scored; its stored metrics stay",
            details={"redacted": int(count), "redacted_at": first.isoformat()},
        )


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


async def cancel(
    session: AsyncSession, experiment: Experiment, *, actor: Actor, executor: Executor
) -> list[uuid.UUID]:
    """Cancel the experiment's queued and running batches; the ids of those cancelled.

    No new call starts (the executor is told after the commit; calls in flight finish and
    are stored); iterations already stored stay. A finished experiment is a conflict.
    """
    cancelled = await run_service.cancel(session, experiment.id)
    if not cancelled:
        raise Conflict("the experiment has already finished: there is nothing to cancel")
    await audit.record_about(
        session,
        Action.EXPERIMENT_CANCELLED,
        experiment,
        target_type="experiment",
        actor=actor,
        details={"batch_runs": [str(batch_run_id) for batch_run_id in cancelled]},
    )
    after_commit(session, lambda: executor.cancel(cancelled))
    return cancelled


def rerun_input(experiment: Experiment) -> ExperimentCreate:
    """The configuration of an experiment, to run it again as a new one: checked as new
    input is, so one stored before a rule was added (a control character in a name, a
    model name outside vendors' character set) is refused with the reason, not run."""
    configuration = {
        "name": experiment.name,
        "prompt": experiment.prompt,
        "persona": experiment.persona,
        "brands": experiment.brands,
        "providers": list(experiment.providers),
        "iterations": experiment.iterations,
        "precision": experiment.precision,
        "temperature": experiment.temperature,
        "grounding": experiment.grounding,
        "require_grounding": experiment.require_grounding,
        "user_location": experiment.user_location,
        "demo_probabilities": experiment.demo_probabilities,
        "budget_usd": None if experiment.budget_usd is None else str(experiment.budget_usd),
    }
    try:
        return ExperimentCreate.model_validate(configuration)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise AppError(
            f"this experiment cannot run again as it is ({field}: {reason}): create a new one"
        ) from None


async def resume(
    session: AsyncSession,
    experiment: Experiment,
    *,
    actor: Actor,
    runtime: Runtime,
    now: datetime | None = None,
) -> int:
    """Let an interrupted or failed experiment run what its latest run lacks (missing and
    failed iterations; nothing that succeeded is redone) on the runtime's executor, once
    the transaction commits; the number of batches reopened.

    Refuses with :class:`~echo_ai.runs.leases.BatchBusy` (409) while a process still runs
    one of those batches (its lease is held at ``now``) or its chunks wait in the broker,
    and, as a new run is (:func:`echo_ai.workspaces.admission.admit`: the plan's vendors,
    size, month and in-flight quotas, the budgets, an unpriced model under a budget), when
    the workspace may not run the missing iterations of the experiment's providers now
    (a batch stopped by a budget resumes once the budget covers it); a refusal
    raises before the transaction commits, so nothing is reopened or sent.
    """
    specs = [ProviderSpec.parse(spec) for spec in experiment.providers]
    await check_providers(session, runtime, specs, experiment.workspace_id)
    now = now or utcnow()
    reopened = await run_service.reopen_unfinished(
        session,
        experiment.id,
        now=now,
        lease_ttl=runtime.lease_ttl,
        waiting=runtime.queued.waiting if runtime.queued is not None else None,
    )
    if not reopened:
        return 0  # finished and complete: nothing to run again
    if experiment.workspace_id is not None:
        missing = {
            ProviderSpec(batch.provider, batch.model): batch.iterations_requested - batch.stored
            for batch in await run_service.runnable_batches(session, experiment.id)
        }
        missing = {spec: count for spec, count in missing.items() if count > 0}
        if missing:
            await admission.admit(
                session,
                experiment.workspace_id,
                prompt=experiment.prompt,
                providers=list(missing),
                iterations=max(missing.values()),
                grounding=experiment.grounding,
                settings=runtime.settings,
                now=now,
                experiment_id=experiment.id,
                experiment_budget_usd=experiment.budget_usd,
                counted_in_flight=sum(missing.values()),
            )
    await audit.record_about(
        session,
        Action.EXPERIMENT_RESUMED,
        experiment,
        target_type="experiment",
        actor=actor,
        details={"reopened": reopened},
    )
    after_commit(session, lambda: runtime.executor.run_experiment(experiment.id))
    return reopened
