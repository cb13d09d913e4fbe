"""Judging a finished experiment's sentiment with a model: an explicit action on its stored
answers, like a re-score (no new answers), chosen after the lexicon's figures are seen.

Each complete answer that mentions a tracked brand is one auxiliary call
(:mod:`echo_ai.billing.auxiliary`, purpose ``sentiment_judge``: admitted against the
budgets, the workspace's stored key, its cost counted for the experiment), asking for a
structured verdict on each brand from the sentences that mention it
(:mod:`echo_ai.analysis.sentiment_judge`). A valid verdict replaces that answer's
sentiment, each brand's entry naming its scorer (``judge:vendor:model``); an invalid one,
or a failed call, leaves the answer with the lexicon's and is counted. The batches' and
rounds' metrics are then stored again, and the summary kept on the experiment
(``experiments.sentiment_judge``). A re-score goes back to the lexicon everywhere.

The whole estimate (every call at its largest) is checked against the budgets before the
first call, so a judging the budget cannot pay for is refused at once; a call refused
later (spend by others meanwhile) stops the judging, and what was judged is kept.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
from echo_ai.errors import AppError, Conflict
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
from echo_ai.runs.models import FINISHED_STATUSES, Experiment, Iteration

MAX_JUDGED_ANSWERS = 2_000
"""The most answers one judging asks about (it runs while the request waits)."""
CONCURRENCY = 4
"""Judge calls in flight at once, per judging."""
MAX_OUTPUT_TOKENS = 800
"""A verdict is a few dozen tokens a brand; reasoning models need room to think first."""


class JudgeRefused(AppError):
    """Judging that cannot start: nothing to judge, or too much at once."""

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


async def _answers(session: AsyncSession, experiment: Experiment) -> list[_Answer]:
    """The complete answers of the experiment that mention a tracked brand, oldest first."""
    batch_ids = [batch.id for batch in experiment.batch_runs]
    if not batch_ids:
        return []
    rows = (
        await session.execute(
            select(Iteration.id, Iteration.answer, Iteration.extraction)
            .where(
                Iteration.batch_run_id.in_(batch_ids),
                Iteration.success.is_(True),
                Iteration.answer_class == "complete",
                Iteration.extraction.is_not(None),
            )
            .order_by(Iteration.batch_run_id, Iteration.index)
        )
    ).all()
    found: list[_Answer] = []
    for row in rows:
        parsed = Extraction.from_dict(row.extraction)
        if not parsed.mentions or not row.answer:
            continue
        lexicon = score_mentions(row.answer, parsed.mentions)
        if lexicon:
            found.append(_Answer(row.id, row.answer, dict(row.extraction), lexicon))
    return found


def _assumed_total(spec: ProviderSpec, answers: Sequence[_Answer]) -> Decimal | None:
    total = Decimal(0)
    for answer in answers:
        cost = auxiliary.assumed_call_cost(spec, _request(spec, answer))
        if cost is None:
            return None
        total += cost
    return total


async def estimate(
    session: AsyncSession, experiment: Experiment, spec: ProviderSpec
) -> JudgeEstimateOut:
    """How many calls judging the experiment with ``spec`` makes and what they cost at most."""
    answers = await _answers(session, experiment)
    total = _assumed_total(spec, answers)
    return JudgeEstimateOut(
        provider=str(spec),
        answers=len(answers),
        cost_usd=None if total is None else usd_text(total),
        synthetic=spec.vendor == "demo",
    )


@dataclass
class _Tally:
    judged: dict[uuid.UUID, dict[str, BrandSentiment]]
    failed: JudgeFailuresOut
    cost: Decimal | None
    stopped: str | None = None


async def judge(
    session: AsyncSession,
    runtime: Runtime,
    experiment: Experiment,
    spec: ProviderSpec,
    *,
    actor: Actor,
    now: datetime,
) -> SentimentJudgeOut:
    """Judge the sentiment of the experiment's stored answers with ``spec`` (see the
    module); the experiment must have finished and have answers that name a brand."""
    if any(batch.status not in FINISHED_STATUSES for batch in experiment.batch_runs):
        raise Conflict("the experiment is still running: judge it once it has finished")
    await experiment_service.refuse_redacted(session, [b.id for b in experiment.batch_runs])
    answers = await _answers(session, experiment)
    if not answers:
        raise JudgeRefused("no complete answer names a tracked brand: there is nothing to judge")
    if len(answers) > MAX_JUDGED_ANSWERS:
        raise JudgeRefused(
            f"{len(answers):,} answers name a tracked brand; one judging covers at most "
            f"{MAX_JUDGED_ANSWERS:,}"
        )
    workspace_id = experiment.workspace_id
    if workspace_id is None:
        raise JudgeRefused("the experiment belongs to no workspace: its calls cannot be paid for")
    if spec.vendor != "demo":
        try:
            await ensure_ready(session, runtime.settings, [spec], workspace_id=workspace_id)
        except ProviderNotConfigured as error:
            raise AppError(error.message) from None
        assumed = _assumed_total(spec, answers)
        await admit_spend(
            session,
            workspace_id,
            estimated_usd=assumed or Decimal(0),
            now=now,
            experiment_id=experiment.id,
            experiment_budget_usd=experiment.budget_usd,
            unpriced=[str(spec)] if assumed is None else (),
        )
    tally = await _ask_all(runtime, experiment, workspace_id, spec, answers, now=now)
    await _store(session, experiment, answers, tally.judged)
    out = SentimentJudgeOut(
        provider=str(spec),
        scorer=scorer_name(str(spec)),
        synthetic=spec.vendor == "demo",
        answers=len(answers),
        judged=len(tally.judged),
        failed=tally.failed,
        cost_usd=None if tally.cost is None else usd_text(tally.cost),
        stopped=tally.stopped,
        judged_at=now,
    )
    experiment.sentiment_judge = out.model_dump(mode="json")
    await audit.record_about(
        session,
        Action.EXPERIMENT_SENTIMENT_JUDGED,
        experiment,
        target_type="experiment",
        actor=actor,
        details={"provider": str(spec), "answers": len(answers), "judged": len(tally.judged)},
    )
    return out


async def _ask_all(
    runtime: Runtime,
    experiment: Experiment,
    workspace_id: uuid.UUID,
    spec: ProviderSpec,
    answers: Sequence[_Answer],
    *,
    now: datetime,
) -> _Tally:
    scorer = scorer_name(str(spec))
    tally = _Tally(judged={}, failed=JudgeFailuresOut(), cost=Decimal(0))
    call = auxiliary.AuxiliaryCall(
        workspace_id,
        spec,
        auxiliary.Purpose.SENTIMENT_JUDGE,
        experiment_id=experiment.id,
        experiment_budget_usd=experiment.budget_usd,
    )
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(answer: _Answer) -> None:
        async with slots:
            if tally.stopped is not None:
                tally.failed.not_sent += 1
                return
            if spec.vendor == "demo":
                text = synthetic_verdict(answer.lexicon)
            else:
                try:
                    answered = await auxiliary.complete(
                        runtime, call, _request(spec, answer), now=now
                    )
                except (BudgetExhausted, PriceUnknown) as refused:
                    tally.stopped = refused.message
                    tally.failed.not_sent += 1
                    return
                except ProviderError:
                    tally.failed.provider_error += 1
                    return
                if answered.cost_usd is None:
                    tally.cost = None
                elif tally.cost is not None:
                    tally.cost += answered.cost_usd
                text = answered.completion.text
            try:
                tally.judged[answer.id] = read_verdict(text, answer.lexicon, scorer=scorer)
            except InvalidVerdict:
                tally.failed.invalid_output += 1

    async with asyncio.TaskGroup() as group:
        for answer in answers:
            group.create_task(one(answer))
    return tally


async def _store(
    session: AsyncSession,
    experiment: Experiment,
    answers: Sequence[_Answer],
    judged: Mapping[uuid.UUID, Mapping[str, BrandSentiment]],
) -> None:
    """Every answer's sentiment as judged, or the lexicon's where the judge failed; then
    the batches' and rounds' metrics again."""
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
    brands = BrandSet.model_validate(experiment.brands)
    for batch in experiment.batch_runs:
        if batch.metrics is not None:
            await run_service.store_metrics(session, batch, brands)
    await session.flush()
    for round_ in sorted({batch.round for batch in experiment.batch_runs}):
        await run_service.store_round_metrics(session, experiment.id, round_)
