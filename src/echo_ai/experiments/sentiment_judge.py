"""Judging a finished run's sentiment with a model, in the background: an explicit action on
its stored answers, like a re-score (no new answers), chosen after the lexicon's figures
are seen.

Each complete answer of the run that mentions a tracked brand is one auxiliary call
(:mod:`echo_ai.billing.auxiliary`, purpose ``sentiment_judge``: admitted against the
budgets, the workspace's stored key, its cost counted for the experiment), asking for a
structured verdict on each brand from the sentences that mention it
(:mod:`echo_ai.analysis.sentiment_judge`). A valid verdict replaces that answer's
sentiment, each brand's entry naming its scorer (``judge:vendor:model``); an invalid one,
or a failed call, leaves the answer with the lexicon's and is counted.

**What a judging covers.** One run (round) of the experiment, the latest unless asked:
all its complete answers, never a part of them. A run with more than
:data:`MAX_JUDGED_ANSWERS` complete answers is refused (409), so no figure silently mixes
judged and unjudged answers of one run.

**Lifecycle.** :func:`start` checks what can be checked at once (the run finished, answers
to judge, the provider configured, the whole estimate against the budgets), stores a
``queued`` :class:`~echo_ai.runs.models.SentimentJudging` (one queued or running per
experiment: a second is 409), audits, and hands its id to ``judge_later`` once the
caller's transaction commits (the API process in the embedded default, a worker in
production mode: :mod:`echo_ai.execution.background`). :func:`run` claims it
(compare-and-set on ``started_at``), reads the answers in keyset chunks of
:data:`CHUNK` (:func:`echo_ai.experiments.service.iteration_rows`), asks about each chunk
(:data:`CONCURRENCY` calls at once) and stores its verdicts with the counts, the cost and
its position in one transaction: a judging interrupted (the process ends, a worker dies)
goes on after the last chunk stored, asking nothing twice but the calls in flight. Its
end stores the run's batches' and round's metrics again and the summary on the experiment
(``experiments.sentiment_judge``).

A judging asked to stop (:func:`request_stop`) stops after the chunk in flight, keeping
what was judged; one whose call the budget refuses (spend by others meanwhile) stops
too, with the reason. One never stays ``running`` for good: a process's start (embedded)
or ``echo-ai beat`` (production, :func:`stalled`) takes up those nobody has moved for a
while, and gives up (``failed``) on one asked for more than :data:`GIVE_UP_AFTER` ago.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import Extraction
from echo_ai.analysis.sentiment import METHOD as LEXICON
from echo_ai.analysis.sentiment import BrandSentiment, score_mentions
from echo_ai.analysis.sentiment_judge import (
    SCHEMA_NAME,
    InvalidVerdict,
    question,
    read_verdict,
    schema,
    scorer_name,
    synthetic_verdict,
)
from echo_ai.billing import auxiliary
from echo_ai.billing.budgets import BudgetExhausted, PriceUnknown, admit_spend
from echo_ai.db import after_commit, dialect_insert, rows_changed, transaction, utcnow
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.execution.providers import ensure_ready
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.judge_schemas import (
    JudgeEstimateOut,
    JudgeFailuresOut,
    SentimentJudgeOut,
)
from echo_ai.metering.units import usd_text
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.providers.base import (
    CompletionRequest,
    ProviderError,
    ProviderNotConfigured,
    StructuredOutput,
)
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs import service as run_service
from echo_ai.runs.models import (
    ACTIVE_JUDGING_STATUSES,
    FINISHED_STATUSES,
    BatchRun,
    Experiment,
    Iteration,
    JudgingStatus,
    SentimentJudging,
)

log = logging.getLogger(__name__)

MAX_JUDGED_ANSWERS = 10_000
"""The most complete answers of one run a judging covers (a larger run is refused)."""
CONCURRENCY = 4
"""Judge calls in flight at once, per judging."""
CHUNK = 40
"""Answers read, asked about and stored at once: what a stop or a crash can lose."""
COST_SAMPLE = 200
"""Answers (the run's first) the estimate works the cost out from."""
MAX_OUTPUT_TOKENS = 800
"""A verdict is a few dozen tokens a brand; reasoning models need room to think first."""
GIVE_UP_AFTER = timedelta(days=1)
"""A judging not ended this long after it was asked for is marked failed by the sweep."""

JudgeLater = Callable[[uuid.UUID], Coroutine[Any, Any, None]]


class JudgeRefused(AppError):
    """Judging that cannot start: nothing to judge, too much at once, one already running."""

    status_code = 409
    code = "judge_refused"


@dataclass(frozen=True)
class _Answer:
    id: uuid.UUID
    text: str
    extraction: dict[str, Any]
    lexicon: dict[str, BrandSentiment]
    """The lexicon scorer's sentiment of each brand mentioned (scored again now, so a
    judge's earlier verdict never stands in for it)."""


def parse_provider(text: str) -> ProviderSpec:
    try:
        return ProviderSpec.parse(text)
    except ValueError as error:
        raise AppError(str(error)) from None


def _request(spec: ProviderSpec, answer: _Answer) -> CompletionRequest:
    return CompletionRequest(
        prompt=question(answer.text, answer.lexicon),
        model=spec.model,
        temperature=0.0,
        max_output_tokens=MAX_OUTPUT_TOKENS,
        structured=StructuredOutput(
            name=SCHEMA_NAME,
            description="How the answer speaks of each brand listed.",
            schema=schema(list(answer.lexicon)),
        ),
    )


# --- what a judging covers, cheaply ------------------------------------------------------


def _run_batches(experiment: Experiment, run: int | None) -> tuple[int | None, list[BatchRun]]:
    """The run covered (the latest unless ``run``) and its batches in listing order."""
    rounds = {batch.round for batch in experiment.batch_runs}
    if run is not None and run not in rounds:
        raise NotFound(f"the experiment has no run {run}")
    chosen = run if run is not None else max(rounds, default=None)
    batches = sorted(
        (b for b in experiment.batch_runs if b.round == chosen),
        key=lambda b: (b.created_at, b.id),
    )
    return chosen, batches


def _count(batches: Sequence[BatchRun]) -> int:
    """The complete answers of the (finished) batches, from their counters: nothing read."""
    return sum(batch.succeeded for batch in batches)


_COLUMNS = (
    Iteration.id,
    Iteration.batch_run_id,
    Iteration.index,
    Iteration.success,
    Iteration.answer_class,
    Iteration.answer,
    Iteration.extraction,
)


@dataclass
class _Chunk:
    answers: list[_Answer]
    """Of the rows read, the complete answers that name a tracked brand."""
    complete: int
    """Complete answers among the rows read (those named in the count)."""
    last: tuple[uuid.UUID, int] | None
    """The keyset position of the last row read; None: no row left."""


async def _read_chunk(
    session: AsyncSession,
    batch_ids: Sequence[uuid.UUID],
    after: tuple[uuid.UUID, int] | None,
    limit: int,
) -> _Chunk:
    """Up to ``limit`` iterations after ``after`` (keyset), their answers scored by the
    lexicon."""
    rows = await experiment_service.iteration_rows(
        session, batch_ids, *_COLUMNS, limit=limit, after=after
    )
    found: list[_Answer] = []
    complete = 0
    for row in rows:
        if not (row.success and row.answer_class == "complete" and row.extraction is not None):
            continue
        complete += 1
        parsed = Extraction.from_dict(row.extraction)
        if not parsed.mentions or not row.answer:
            continue
        lexicon = score_mentions(row.answer, parsed.mentions)
        if lexicon:
            found.append(_Answer(row.id, row.answer, dict(row.extraction), lexicon))
    last = (rows[-1].batch_run_id, int(rows[-1]._mapping["index"])) if rows else None
    return _Chunk(found, complete, last)


def _cost_estimate(spec: ProviderSpec, sample: _Chunk, count: int) -> tuple[Decimal | None, int]:
    """The calls' cost at most, from the sampled answers (exact when they are all of the
    run's): the average call of the sample times ``count``; and how many it came from."""
    if spec.vendor == "demo":
        return Decimal(0), sample.complete
    total = Decimal(0)
    for answer in sample.answers:
        cost = auxiliary.assumed_call_cost(spec, _request(spec, answer))
        if cost is None:
            return None, sample.complete
        total += cost
    if sample.complete == 0 or sample.complete >= count:
        return total, sample.complete
    return total / sample.complete * count, sample.complete


async def estimate(
    session: AsyncSession, experiment: Experiment, spec: ProviderSpec, *, run: int | None = None
) -> JudgeEstimateOut:
    """How many answers judging a run with ``spec`` covers and about what it costs at most:
    the batches' counters and the first :data:`COST_SAMPLE` iterations read, at any
    size."""
    chosen, batches = _run_batches(experiment, run)
    batch_ids = [batch.id for batch in batches]
    count = _count(batches)
    sample = await _read_chunk(session, batch_ids, None, COST_SAMPLE) if batch_ids else None
    cost, cost_from = _cost_estimate(spec, sample, count) if sample is not None else (Decimal(0), 0)
    return JudgeEstimateOut(
        provider=str(spec),
        run=chosen,
        answers=count,
        limit=MAX_JUDGED_ANSWERS,
        over_limit=count > MAX_JUDGED_ANSWERS,
        cost_usd=None if cost is None else usd_text(cost),
        cost_from=cost_from,
        synthetic=spec.vendor == "demo",
    )


# --- asking for one -----------------------------------------------------------------------


def out_of(judging: SentimentJudging) -> SentimentJudgeOut:
    """The judging as the API, the pages and the CLI show it."""
    finished = judging.status not in ACTIVE_JUDGING_STATUSES
    return SentimentJudgeOut(
        id=judging.id,
        provider=judging.provider,
        scorer=scorer_name(judging.provider),
        synthetic=judging.provider.startswith("demo:"),
        status=judging.status.value,
        run=judging.round,
        answers=judging.answers,
        read=judging.read,
        judged=judging.judged,
        failed=JudgeFailuresOut(
            invalid_output=judging.invalid_output,
            provider_error=judging.provider_error,
            not_sent=judging.not_sent,
        ),
        cost_usd=None if judging.cost_usd is None else usd_text(judging.cost_usd),
        stopped=judging.reason,
        stop_requested=judging.stop_requested_at is not None,
        created_at=judging.created_at,
        judged_at=judging.finished_at if finished else None,
    )


async def active(session: AsyncSession, experiment_id: uuid.UUID) -> SentimentJudging | None:
    """The experiment's judging queued or running, if any."""
    found: SentimentJudging | None = await session.scalar(
        select(SentimentJudging).where(
            SentimentJudging.experiment_id == experiment_id,
            SentimentJudging.status.in_(ACTIVE_JUDGING_STATUSES),
        )
    )
    return found


async def latest(session: AsyncSession, experiment_id: uuid.UUID) -> SentimentJudging:
    """The experiment's last judging (404 when it was never judged)."""
    found = await session.scalar(
        select(SentimentJudging)
        .where(SentimentJudging.experiment_id == experiment_id)
        .order_by(SentimentJudging.created_at.desc())
        .limit(1)
    )
    if found is None:
        raise NotFound("the experiment's sentiment was never judged")
    return found


async def start(
    session: AsyncSession,
    runtime: Runtime,
    experiment: Experiment,
    spec: ProviderSpec,
    *,
    actor: Actor,
    now: datetime,
    run: int | None = None,
    judge_later: JudgeLater | None,
) -> SentimentJudging:
    """Ask for a judging of a finished run's answers with ``spec`` (see the module): stored
    ``queued`` and handed to ``judge_later`` after the commit (``None``: the caller runs
    it, as the CLI does). :class:`JudgeRefused` (409) while another is queued or running,
    with nothing to judge or a run over the limit; 402 when the budgets cannot pay for
    the estimate."""
    if any(batch.status not in FINISHED_STATUSES for batch in experiment.batch_runs):
        raise Conflict("the experiment is still running: judge it once it has finished")
    if await active(session, experiment.id) is not None:
        raise JudgeRefused("a judging of this experiment is already queued or running")
    chosen, batches = _run_batches(experiment, run)
    batch_ids = [batch.id for batch in batches]
    await experiment_service.refuse_redacted(session, batch_ids)
    count = _count(batches)
    if chosen is None or count == 0:
        raise JudgeRefused("the run has no complete answer: there is nothing to judge")
    if count > MAX_JUDGED_ANSWERS:
        raise JudgeRefused(
            f"run {chosen} has {count:,} complete answers; one judging covers a whole run "
            f"of at most {MAX_JUDGED_ANSWERS:,}"
        )
    workspace_id = experiment.workspace_id
    if workspace_id is None:
        raise JudgeRefused("the experiment belongs to no workspace: its calls cannot be paid for")
    sample = await _read_chunk(session, batch_ids, None, COST_SAMPLE)
    if not sample.answers and sample.complete >= count:
        raise JudgeRefused("no complete answer names a tracked brand: there is nothing to judge")
    if spec.vendor != "demo":
        try:
            await ensure_ready(session, runtime.settings, [spec], workspace_id=workspace_id)
        except ProviderNotConfigured as error:
            raise AppError(error.message) from None
        assumed, _ = _cost_estimate(spec, sample, count)
        await admit_spend(
            session,
            workspace_id,
            estimated_usd=assumed or Decimal(0),
            now=now,
            experiment_id=experiment.id,
            experiment_budget_usd=experiment.budget_usd,
            unpriced=[str(spec)] if assumed is None else (),
        )
    # One insert that the unique index on the experiment's active judging turns into
    # nothing when another request's got in after the check above.
    judging_id = await session.scalar(
        dialect_insert(session)(SentimentJudging)
        .values(
            id=uuid.uuid4(),
            experiment_id=experiment.id,
            provider=str(spec),
            round=chosen,
            status=JudgingStatus.QUEUED,
            answers=count,
            read=0,
            judged=0,
            invalid_output=0,
            provider_error=0,
            not_sent=0,
            cost_usd=Decimal(0),
            created_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=[SentimentJudging.experiment_id],
            # SQL text, not a bound parameter (see accounts.export.request).
            index_where=text("status IN ('queued', 'running')"),
        )
        .returning(SentimentJudging.id)
    )
    if judging_id is None:
        raise JudgeRefused("a judging of this experiment is already queued or running")
    judging = await session.get_one(SentimentJudging, judging_id)
    experiment.sentiment_judge = out_of(judging).model_dump(mode="json")
    await audit.record_about(
        session,
        Action.EXPERIMENT_SENTIMENT_JUDGED,
        experiment,
        target_type="experiment",
        actor=actor,
        details={
            "provider": str(spec),
            "run": chosen,
            "answers": count,
            "judging": str(judging_id),
        },
    )
    if judge_later is not None:
        later = judge_later
        after_commit(session, lambda: later(judging_id))
    return judging


async def request_stop(
    session: AsyncSession, experiment: Experiment, *, now: datetime
) -> SentimentJudging:
    """Ask the experiment's judging to stop: one still queued stops at once; a running one
    after the chunk in flight, keeping what was judged. 409 when none is queued or
    running."""
    judging = await active(session, experiment.id)
    if judging is None:
        raise JudgeRefused("no judging of this experiment is queued or running")
    judging.stop_requested_at = judging.stop_requested_at or now
    if judging.status is JudgingStatus.QUEUED and judging.started_at is None:
        judging.status = JudgingStatus.STOPPED
        judging.reason = "stopped before it started: nothing was judged"
        judging.finished_at = now
    experiment.sentiment_judge = out_of(judging).model_dump(mode="json")
    await session.flush()
    return judging


# --- running one --------------------------------------------------------------------------


@dataclass
class _Tally:
    judged: dict[uuid.UUID, dict[str, BrandSentiment]] = field(default_factory=dict)
    invalid_output: int = 0
    provider_error: int = 0
    not_sent: int = 0
    cost: Decimal | None = Decimal(0)
    stopped: str | None = None


@dataclass(frozen=True)
class _Context:
    judging_id: uuid.UUID
    experiment_id: uuid.UUID
    workspace_id: uuid.UUID
    budget_usd: Decimal | None
    spec: ProviderSpec
    round: int
    batch_ids: list[uuid.UUID]


def _mine(judging_id: uuid.UUID, claimed: datetime) -> ColumnElement[bool]:
    """The judging is still running under the claim made at ``claimed``."""
    return and_(
        SentimentJudging.id == judging_id,
        SentimentJudging.status == JudgingStatus.RUNNING,
        SentimentJudging.started_at == claimed,
    )


async def run(
    session_factory: async_sessionmaker[AsyncSession],
    runtime: Runtime,
    judging_id: uuid.UUID,
    *,
    stale_after: timedelta = timedelta(0),
    for_seconds: float | None = None,
    on_chunk: Callable[[SentimentJudgeOut], None] | None = None,
) -> bool:
    """Run the judging from where it is (see the module): nothing if it has ended, or
    another run claimed it less than ``stale_after`` ago. With ``for_seconds``, it gives
    the judging back after the chunk that passes that time (a worker's task sends itself
    again): whether it did so, with work left. ``on_chunk`` sees it after each chunk.
    It raises nothing but its cancellation (a failure marks the judging failed)."""
    claimed = utcnow()
    try:
        context = await _claim(session_factory, judging_id, claimed, stale_after)
        if context is None:
            return False
        return await _go_on(session_factory, runtime, context, claimed, for_seconds, on_chunk)
    except asyncio.CancelledError:
        # The process is stopping: the judging stays running, and is taken up again by
        # the next start of an embedded service or by beat's sweep (:func:`stalled`).
        raise
    except Exception as error:
        async with session_factory() as session, session.begin():
            judging = await session.get(SentimentJudging, judging_id)
            if judging is not None and judging.status in ACTIVE_JUDGING_STATUSES:
                reason = f"{type(error).__name__}: {error}"[:2000]
                await _end(session, judging, JudgingStatus.FAILED, reason)
        log.exception("the sentiment judging %s failed", judging_id)
        return False


async def _claim(
    session_factory: async_sessionmaker[AsyncSession],
    judging_id: uuid.UUID,
    now: datetime,
    stale_after: timedelta,
) -> _Context | None:
    async with session_factory() as session, session.begin():
        judging = await session.get(SentimentJudging, judging_id)
        if judging is None or judging.status not in ACTIVE_JUDGING_STATUSES:
            return None
        before = judging.started_at
        if before is not None and before > now - stale_after:
            return None
        won = await rows_changed(
            session,
            update(SentimentJudging)
            .where(
                SentimentJudging.id == judging_id,
                SentimentJudging.status.in_(ACTIVE_JUDGING_STATUSES),
                SentimentJudging.started_at.is_(None)
                if before is None
                else SentimentJudging.started_at == before,
            )
            .values(status=JudgingStatus.RUNNING, started_at=now),
        )
        if not won:
            return None
        experiment = await experiment_service.get(session, judging.experiment_id)
        _, batches = _run_batches(experiment, judging.round)
        if experiment.workspace_id is None:
            raise JudgeRefused("the experiment belongs to no workspace")
        return _Context(
            judging_id=judging_id,
            experiment_id=experiment.id,
            workspace_id=experiment.workspace_id,
            budget_usd=experiment.budget_usd,
            spec=ProviderSpec.parse(judging.provider),
            round=judging.round,
            batch_ids=[batch.id for batch in batches],
        )


async def _go_on(
    session_factory: async_sessionmaker[AsyncSession],
    runtime: Runtime,
    context: _Context,
    claimed: datetime,
    for_seconds: float | None,
    on_chunk: Callable[[SentimentJudgeOut], None] | None,
) -> bool:
    began = time.monotonic()
    while True:
        async with session_factory() as session:
            judging = await session.get_one(SentimentJudging, context.judging_id)
            stop = judging.stop_requested_at is not None
            after = (
                None
                if judging.after_batch_id is None or judging.after_index is None
                else (judging.after_batch_id, judging.after_index)
            )
            chunk = None if stop else await _read_chunk(session, context.batch_ids, after, CHUNK)
        if chunk is None:
            return await _finish(session_factory, context, claimed, "asked to stop")
        if chunk.last is None:
            return await _finish(session_factory, context, claimed, None)
        tally = await _ask_all(runtime, context, chunk.answers)
        renewed = utcnow()
        async with session_factory() as session, session.begin():
            still = await rows_changed(
                session,
                update(SentimentJudging)
                .where(_mine(context.judging_id, claimed))
                .values(
                    started_at=renewed,
                    read=SentimentJudging.read + chunk.complete,
                    judged=SentimentJudging.judged + len(tally.judged),
                    invalid_output=SentimentJudging.invalid_output + tally.invalid_output,
                    provider_error=SentimentJudging.provider_error + tally.provider_error,
                    not_sent=SentimentJudging.not_sent + tally.not_sent,
                    cost_usd=None if tally.cost is None else SentimentJudging.cost_usd + tally.cost,
                    after_batch_id=chunk.last[0],
                    after_index=chunk.last[1],
                ),
            )
            if not still:  # claimed again meanwhile (this one counted as stalled)
                log.warning("the sentiment judging %s was taken over", context.judging_id)
                return False
            await _store_chunk(session, chunk.answers, tally.judged)
            judging = await session.get_one(SentimentJudging, context.judging_id)
            await session.refresh(judging)
            experiment = await session.get_one(Experiment, context.experiment_id)
            experiment.sentiment_judge = out_of(judging).model_dump(mode="json")
        claimed = renewed
        if on_chunk is not None:
            on_chunk(out_of(judging))
        if tally.stopped is not None:
            return await _finish(session_factory, context, claimed, tally.stopped)
        if for_seconds is not None and time.monotonic() - began >= for_seconds:
            async with session_factory() as session, session.begin():
                # Given back: the next delivery claims it at once, and the sweep counts
                # it as moved now (it waits ``after`` from here).
                await rows_changed(
                    session,
                    update(SentimentJudging)
                    .where(_mine(context.judging_id, claimed))
                    .values(started_at=None, dispatched_at=utcnow()),
                )
            return True


async def _ask_all(runtime: Runtime, context: _Context, answers: Sequence[_Answer]) -> _Tally:
    spec = context.spec
    scorer = scorer_name(str(spec))
    tally = _Tally()
    call = auxiliary.AuxiliaryCall(
        context.workspace_id,
        spec,
        auxiliary.Purpose.SENTIMENT_JUDGE,
        experiment_id=context.experiment_id,
        experiment_budget_usd=context.budget_usd,
    )
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(answer: _Answer) -> None:
        async with slots:
            if tally.stopped is not None:
                tally.not_sent += 1
                return
            if spec.vendor == "demo":
                text = synthetic_verdict(answer.lexicon)
            else:
                try:
                    answered = await auxiliary.complete(
                        runtime, call, _request(spec, answer), now=utcnow()
                    )
                except (BudgetExhausted, PriceUnknown) as refused:
                    tally.stopped = refused.message
                    tally.not_sent += 1
                    return
                except ProviderError:
                    tally.provider_error += 1
                    return
                if answered.cost_usd is None:
                    tally.cost = None
                elif tally.cost is not None:
                    tally.cost += answered.cost_usd
                text = answered.completion.text
            try:
                tally.judged[answer.id] = read_verdict(text, answer.lexicon, scorer=scorer)
            except InvalidVerdict:
                tally.invalid_output += 1

    async with asyncio.TaskGroup() as group:
        for answer in answers:
            group.create_task(one(answer))
    return tally


async def _store_chunk(
    session: AsyncSession,
    answers: Sequence[_Answer],
    judged: dict[uuid.UUID, dict[str, BrandSentiment]],
) -> None:
    """Each answer's sentiment as judged, or the lexicon's where the judge failed."""
    rows = []
    for answer in answers:
        sentiment = judged.get(answer.id, answer.lexicon)
        extraction = {
            **answer.extraction,
            "sentiment": {brand: found.to_dict() for brand, found in sentiment.items()},
            "sentiment_method": LEXICON,
        }
        rows.append({"id": answer.id, "extraction": extraction})
    if rows:
        await session.execute(update(Iteration), rows)


async def _finish(
    session_factory: async_sessionmaker[AsyncSession],
    context: _Context,
    claimed: datetime,
    stopped: str | None,
) -> bool:
    async with session_factory() as session, session.begin():
        judging = await session.scalar(
            select(SentimentJudging).where(_mine(context.judging_id, claimed)).with_for_update()
        )
        if judging is None:  # taken over meanwhile
            return False
        status = JudgingStatus.COMPLETED if stopped is None else JudgingStatus.STOPPED
        await _end(session, judging, status, stopped)
    return False


async def _end(
    session: AsyncSession, judging: SentimentJudging, status: JudgingStatus, reason: str | None
) -> None:
    """The run's metrics again (what was judged counts), then the judging's end and the
    experiment's summary."""
    experiment = await experiment_service.get(session, judging.experiment_id)
    _, batches = _run_batches(experiment, judging.round)
    if judging.read:  # answers were stored again (judged, or the lexicon's where not)
        brands = BrandSet.model_validate(experiment.brands)
        for batch in batches:
            if batch.metrics is not None:
                await run_service.store_metrics(session, batch, brands)
        await session.flush()
        await run_service.store_round_metrics(session, experiment.id, judging.round)
    judging.status = status
    judging.reason = reason
    judging.finished_at = utcnow()
    experiment.sentiment_judge = out_of(judging).model_dump(mode="json")
    await session.flush()


# --- catching up --------------------------------------------------------------------------


async def stalled(
    session: AsyncSession, *, now: datetime, after: timedelta, limit: int = 100
) -> list[uuid.UUID]:
    """For the scheduler's tick in production mode (and, with ``after`` zero, the start of
    an embedded service, whose previous process was the only one running judgings): the
    judgings queued or running that nobody has moved for ``after`` (their task was never
    sent, or their worker or process died) and that were not dispatched again within
    ``after``, each marked dispatched (their ids, to send after the commit); those asked
    for more than :data:`GIVE_UP_AFTER` ago are ended ``failed`` instead, keeping what was
    judged."""
    since = now - after
    found = await session.scalars(
        select(SentimentJudging)
        .where(
            SentimentJudging.status.in_(ACTIVE_JUDGING_STATUSES),
            func.coalesce(SentimentJudging.started_at, SentimentJudging.created_at) <= since,
            or_(SentimentJudging.dispatched_at.is_(None), SentimentJudging.dispatched_at <= since),
        )
        .order_by(SentimentJudging.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    again: list[uuid.UUID] = []
    for judging in list(found):
        if judging.created_at <= now - GIVE_UP_AFTER:
            await _end(
                session,
                judging,
                JudgingStatus.FAILED,
                "it could not finish within a day: what was judged is kept",
            )
            log.error("the sentiment judging %s was given up", judging.id)
            continue
        judging.dispatched_at = now
        again.append(judging.id)
    await session.flush()
    return again


async def redispatch(
    session_factory: async_sessionmaker[AsyncSession],
    judge_later: JudgeLater,
    *,
    now: datetime,
    after: timedelta,
) -> list[uuid.UUID]:
    """Hand to ``judge_later`` the judgings :func:`stalled` finds (after its commit); their
    ids."""
    async with transaction(session_factory) as session:
        again = await stalled(session, now=now, after=after)
    for judging_id in again:
        await judge_later(judging_id)
    if again:
        log.warning("dispatched %d stalled sentiment judging(s) again: %s", len(again), again)
    return again
