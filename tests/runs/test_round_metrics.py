"""A round's combined metrics are computed when its batches finish (and on re-score) and
stored: equal to pooling its real providers' iterations (the demo's apart), and read
without them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import delete, select

from echo_ai import migrate
from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.metrics import BatchMetrics, Combination
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.base import AuthenticationFailed, Completion, CompletionRequest
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, ExperimentRound, Iteration
from tests.factories import brand_set, experiment_input

pytestmark = pytest.mark.usefixtures("backend")

PREVIOUS_REVISION = "5c1d0e7a9b21"
"""The schema before counters and stored rounds."""


class _Zoho:
    """A vendor at the network edge whose answers name Zoho (found only by its alias);
    after ``answers`` calls its key is revoked."""

    name = "openai"

    def __init__(self, answers: int | None = None) -> None:
        self.answers = answers
        self.calls = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        await asyncio.sleep(0)
        if self.answers is not None and self.calls > self.answers:
            raise AuthenticationFailed("key revoked", status_code=401)
        return Completion(
            text=f"1. Zoho\n2. HubSpot (answer {request.seed})",
            model_version="zoho-1",
            input_tokens=10,
            output_tokens=20,
            latency_ms=1.0,
        )

    async def aclose(self) -> None:
        return None


NARROW = brand_set(competitors=[{"name": "Salesforce"}, {"name": "Zoho CRM"}])
"""Brands where "Zoho" alone is not a mention of Zoho CRM (the alias is missing)."""


async def _run(runtime: Runtime, iterations: int = 20, vendor: _Zoho | None = None) -> uuid.UUID:
    runtime.providers.register(vendor or _Zoho())
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(
                iterations=iterations,
                providers=["demo", "openai:gpt-4o-mini"],
                brands=NARROW.model_dump(),
            ),
            chunk_size=10,
        )
    await runtime.executor.run_experiment(created.id)
    return created.id


async def _pooled(
    runtime: Runtime, experiment_id: uuid.UUID, round_: int, *, synthetic: bool = False
) -> BatchMetrics:
    """The round's real (or synthetic) providers pooled from their iterations."""
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        brands = BrandSet.model_validate(experiment.brands)
        ids = [
            batch.id
            for batch in experiment.batch_runs
            if batch.round == round_ and batch.synthetic == synthetic
        ]
        facts = await run_service.batch_facts(session, ids, target=brands.target.name)
    return run_service.metrics_for(facts, brands)


async def _stored(runtime: Runtime, experiment_id: uuid.UUID, round_: int) -> ExperimentRound:
    async with transaction(runtime.session_factory) as session:
        stored = await run_service.stored_round(session, experiment_id, round_)
    assert stored is not None
    return stored


async def test_the_combined_metrics_are_stored_when_the_round_finishes(runtime: Runtime) -> None:
    experiment_id = await _run(runtime)
    stored = await _stored(runtime, experiment_id, 1)
    assert stored.complete is True
    # The demo ran beside a real provider: never pooled with it.
    assert stored.combined_providers == ["openai:gpt-4o-mini"]
    assert stored.combined is not None
    assert BatchMetrics.model_validate(stored.combined) == await _pooled(runtime, experiment_id, 1)
    assert stored.combined["iterations"] == 20
    real, synthetic = (Combination.model_validate(c) for c in stored.combinations or [])
    assert (real.synthetic, real.providers, real.missing) == (False, ["openai:gpt-4o-mini"], [])
    assert real.pooled == BatchMetrics.model_validate(stored.combined)
    assert (synthetic.synthetic, synthetic.providers) == (True, ["demo:demo-synthetic-1"])
    assert synthetic.pooled == await _pooled(runtime, experiment_id, 1, synthetic=True)
    assert synthetic.pooled is not None and synthetic.pooled.iterations == 20
    # One provider of each kind: the average over providers is that provider's figure.
    assert real.equal_weight is None and synthetic.equal_weight is None


async def test_a_failed_batch_is_pooled_with_what_it_stored(runtime: Runtime) -> None:
    runtime.runner.limits.concurrency = 1
    experiment_id = await _run(runtime, vendor=_Zoho(answers=5))
    stored = await _stored(runtime, experiment_id, 1)
    assert stored.complete is True
    assert stored.combined_providers == ["openai:gpt-4o-mini"]
    assert stored.combined is not None
    assert BatchMetrics.model_validate(stored.combined) == await _pooled(runtime, experiment_id, 1)
    assert stored.combined["succeeded"] == 5


async def test_the_report_reads_stored_figures_without_the_iterations(runtime: Runtime) -> None:
    experiment_id = await _run(runtime)
    async with transaction(runtime.session_factory) as session:
        before = await experiment_service.report(
            session, await experiment_service.get(session, experiment_id)
        )
        ids = [batch.id for batch, _ in before.batches]
        await session.execute(delete(Iteration).where(Iteration.batch_run_id.in_(ids)))
    async with transaction(runtime.session_factory) as session:
        after = await experiment_service.report(
            session, await experiment_service.get(session, experiment_id)
        )
    assert after.combined is not None and after.combined == before.combined
    assert after.combined.iterations == 20
    assert after.combinations == before.combinations and len(after.combinations) == 2
    assert (after.combined_partial, after.combined_providers) == (False, before.combined_providers)
    assert [metrics for _, metrics in after.batches] == [metrics for _, metrics in before.batches]


async def test_a_rescore_stores_every_round_again(runtime: Runtime) -> None:
    experiment_id = await _run(runtime)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        await run_service.start_run(session, experiment, chunk_size=10, now=utcnow())
    await runtime.executor.run_experiment(experiment_id)
    before = {}
    for round_ in (1, 2):
        combined = (await _stored(runtime, experiment_id, round_)).combined
        assert combined is not None
        before[round_] = BatchMetrics.model_validate(combined).mention_rates["Zoho CRM"]

    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        await experiment_service.rescore(session, experiment, actor=Actor.cli(), brands=brand_set())
    for round_ in (1, 2):
        stored = await _stored(runtime, experiment_id, round_)
        assert stored.combined is not None and stored.complete is True
        combined = BatchMetrics.model_validate(stored.combined)
        assert combined == await _pooled(runtime, experiment_id, round_)
        # The 20 "Zoho" answers now count (found by the alias), on top of the others.
        zoho = combined.mention_rates["Zoho CRM"]
        assert zoho.numerator >= before[round_].numerator + 20


async def test_the_upgrade_counts_and_combines_what_earlier_versions_stored(
    runtime: Runtime,
) -> None:
    experiment_id = await _run(runtime, iterations=15)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        # A round left half done by the earlier version: one batch finished, one running.
        await run_service.start_run(session, experiment, chunk_size=10, now=utcnow())
    latest = {b.provider: b for b in await _batches(runtime, experiment_id) if b.round == 2}
    first, second = latest["demo"], latest["openai"]
    await runtime.runner.run_chunk(first.id, 0)
    await runtime.runner.run_chunk(first.id, 1)
    await runtime.runner.run_chunk(second.id, 0)
    expected = [await _pooled(runtime, experiment_id, 1)]
    counts = {
        batch.id: (batch.stored, batch.succeeded, batch.failed)
        for batch in await _batches(runtime, experiment_id)
    }
    assert counts[second.id] == (10, 10, 0)

    await migrate.downgrade(runtime.engine, PREVIOUS_REVISION)
    await migrate.upgrade(runtime.engine, then=run_service.fill_round_metrics)

    batches = await _batches(runtime, experiment_id)
    assert {batch.id: (batch.stored, batch.succeeded, batch.failed) for batch in batches} == counts
    one, two = await _stored(runtime, experiment_id, 1), await _stored(runtime, experiment_id, 2)
    assert one.complete is True and one.combined is not None
    # The downgrade dropped the answers' fees: answers stored before fees were kept have
    # unknown fees, never 0 (docs/metrics.md, "Cost").
    unknown_fees = {"fees_usd": None, "fees_per_iteration_usd": None, "fee_share": None}
    before_fees = expected[0].model_copy(
        update={"cost": expected[0].cost.model_copy(update=unknown_fees)}
    )
    assert BatchMetrics.model_validate(one.combined) == before_fees
    assert two.complete is False
    # Only the demo has finished: no real figure yet, the real combination waits for
    # openai, and the demo's stands apart.
    assert two.combined is None and two.combined_providers == []
    real, synthetic = (Combination.model_validate(c) for c in two.combinations or [])
    assert (real.pooled, real.missing, real.partial) == (None, ["openai:gpt-4o-mini"], True)
    assert synthetic.pooled is not None and synthetic.pooled.iterations == 15
    async with transaction(runtime.session_factory) as session:
        assert await run_service.fill_round_metrics(session) == 0  # done once


async def _batches(runtime: Runtime, experiment_id: uuid.UUID) -> list[BatchRun]:
    async with transaction(runtime.session_factory) as session:
        return list(
            await session.scalars(
                select(BatchRun)
                .where(BatchRun.experiment_id == experiment_id)
                .order_by(BatchRun.round, BatchRun.created_at)
            )
        )


class _Other(_Zoho):
    """A second real vendor (Anthropic at the network edge) naming the same brands."""

    name = "anthropic"


async def test_real_providers_are_pooled_and_averaged_apart_from_the_demo(
    runtime: Runtime,
) -> None:
    runtime.providers.register(_Zoho())
    runtime.providers.register(_Other())
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(
                iterations=20,
                providers=["demo", "openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"],
                brands=brand_set().model_dump(),
            ),
            chunk_size=10,
        )
    await runtime.executor.run_experiment(created.id)
    stored = await _stored(runtime, created.id, 1)
    real, synthetic = (Combination.model_validate(c) for c in stored.combinations or [])
    assert real.providers == ["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5"]
    assert stored.combined_providers == real.providers
    pooled = real.pooled
    assert pooled is not None
    # Pooled: answers weigh equally (openai's 20 outweigh anthropic's 4); averaged: each
    # provider once. Both name Zoho CRM in every answer here, so both give 1.
    average = real.equal_weight
    assert average is not None and average.providers == real.providers
    assert average.visibility.providers == 2
    batches = {b.provider: b for b in await _batches(runtime, created.id)}
    rates = [
        BatchMetrics.model_validate(batches[name].metrics).visibility
        for name in ("openai", "anthropic")
    ]
    assert average.visibility.value == pytest.approx(sum(rate.value or 0.0 for rate in rates) / 2)
    assert pooled.visibility.numerator == sum(rate.numerator for rate in rates)
    assert pooled.succeeded == sum(rate.denominator for rate in rates)
    assert average.visibility.ci_low is not None and average.visibility.ci_high is not None
    assert average.visibility.ci_low <= average.visibility.value <= average.visibility.ci_high
    # The demo's answers are in neither real figure.
    assert synthetic.providers == ["demo:demo-synthetic-1"]
    assert synthetic.pooled is not None and synthetic.pooled.iterations == 20
    assert pooled.iterations == batches["openai"].stored + batches["anthropic"].stored
