"""Each run tested against the previous run and its baseline, on real runs of the demo
provider stored in the database (the tests read only the stored counts)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.metrics import BatchMetrics, Rate
from echo_ai.analysis.significance import (
    BASELINE_RUNS,
    Figure,
    Metric,
    RunSignificance,
    benjamini_hochberg,
)
from echo_ai.analysis.statistics import change_p_value
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import history
from echo_ai.experiments import service as experiment_service
from echo_ai.providers.base import AnswerClass, AuthenticationFailed, Completion, CompletionRequest
from echo_ai.providers.retry import RetryPolicy
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, ExperimentRound
from tests.factories import experiment_input

STEADY = {"HubSpot": 0.3, "Salesforce": 0.5}
JUMP = {"HubSpot": 0.95, "Salesforce": 0.5}
VISIBILITY = Figure(None, Metric.VISIBILITY)


async def _runs(
    runtime: Runtime, probabilities: list[dict[str, float]], **options: Any
) -> uuid.UUID:
    """An experiment run once per entry, each run with those demo probabilities."""
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(
                **{"iterations": 60, "demo_probabilities": probabilities[0], **options}
            ),
            chunk_size=60,
        )
        await _seeded(session, created.id, 1)
    await runtime.executor.run_experiment(created.id)
    await _run_again(runtime, created.id, probabilities[1:])
    return created.id


async def _seeded(session: AsyncSession, experiment_id: uuid.UUID, round_: int) -> None:
    """Fixed demo seeds for the run (a run's seed is random otherwise): the answers, and
    so which unchanged figure a test may find significant by chance, are the same on
    every test run."""
    await session.execute(
        update(BatchRun)
        .where(BatchRun.experiment_id == experiment_id, BatchRun.round == round_)
        .values(seed=1_000 + round_)
    )


async def _run_again(
    runtime: Runtime, experiment_id: uuid.UUID, probabilities: list[dict[str, float]]
) -> None:
    """The experiment's next runs (as a schedule starts them), with these demo chances."""
    for chances in probabilities:
        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, experiment_id)
            experiment.demo_probabilities = chances
            await run_service.start_run(session, experiment, chunk_size=60, now=utcnow())
            await _seeded(session, experiment_id, experiment.runs)
        await runtime.executor.run_experiment(experiment_id)


async def _significance(
    runtime: Runtime, experiment_id: uuid.UUID, **options: Any
) -> list[RunSignificance]:
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id, runs=0)
        return await history.run_significance(session, experiment, **options)


async def _combined(runtime: Runtime, experiment_id: uuid.UUID, round_: int) -> BatchMetrics:
    async with transaction(runtime.session_factory) as session:
        stored = await run_service.stored_round(session, experiment_id, round_)
        assert stored is not None and stored.combined is not None
        return BatchMetrics.model_validate(stored.combined)


@pytest.mark.usefixtures("backend")
async def test_a_jump_is_significant_against_the_previous_run_and_the_baseline(
    runtime: Runtime,
) -> None:
    experiment_id = await _runs(runtime, [STEADY] * 5 + [JUMP])
    [latest] = await _significance(runtime, experiment_id)

    assert (latest.round, latest.complete, latest.synthetic) == (6, True, True)
    assert latest.previous == 5 and latest.baseline == [5, 4, 3, 2]
    assert latest.baseline_runs == BASELINE_RUNS and latest.note is None
    assert latest.vs_previous is not None and latest.vs_baseline is not None

    # The stored counts, tested and adjusted together: one family per comparison.
    before, after = (
        await _combined(runtime, experiment_id, 5),
        await _combined(runtime, experiment_id, 6),
    )
    moved = latest.vs_previous.get(VISIBILITY)
    assert moved is not None and moved.before == before.visibility
    assert moved.after == after.visibility
    assert moved.p_value == pytest.approx(
        change_p_value(
            before.visibility.numerator,
            before.visibility.denominator,
            after.visibility.numerator,
            after.visibility.denominator,
        )
    )
    tested = [t for t in latest.vs_previous.tests if t.tested]
    assert [t.q_value for t in tested] == pytest.approx(
        benjamini_hochberg([t.p_value or 0.0 for t in tested])
    )
    # Visibility, top-1, top-3, citation rate and three competitors' mention rates (the
    # target's is its visibility), for the demo provider and for all providers pooled.
    assert latest.vs_previous.tested == 2 * (4 + 3)
    assert moved.significant and moved.points is not None and moved.points > 0.4
    provider = next(t.figure.provider for t in tested if t.figure.provider is not None)
    significant = {t.figure for t in latest.vs_previous.significant}
    assert {VISIBILITY, Figure(provider, Metric.VISIBILITY)} <= significant
    # Salesforce's chance did not move: its mention rate is not among the discoveries.
    assert Figure(None, Metric.MENTION_RATE, "Salesforce") not in significant

    baseline = latest.vs_baseline.get(VISIBILITY)
    assert baseline is not None and baseline.before == Rate.pool(
        [(await _combined(runtime, experiment_id, r)).visibility for r in (2, 3, 4, 5)]
    )
    assert baseline.before.denominator == 4 * 60 and baseline.significant

    # Only the demo ran: one family, synthetic, as the overview's trend says too.
    assert [family.synthetic for family in latest.vs_previous.families] == [True]
    assert all(t.synthetic for t in latest.vs_previous.tests)
    trend = await _trend(runtime, experiment_id)
    assert all(c.run.synthetic for c in trend) and trend[-1].change is not None
    assert trend[-1].change.after == after.visibility and trend[-1].change.significant


async def test_a_baseline_window_and_runs_without_figures(runtime: Runtime) -> None:
    experiment_id = await _runs(runtime, [STEADY, STEADY, STEADY])
    # An old run stored without figures (as before runs kept them), and a brand missing
    # from another run's figures (it was tracked later): neither breaks the tests.
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(ExperimentRound)
            .where(ExperimentRound.experiment_id == experiment_id, ExperimentRound.round == 2)
            .values(combined=None, visibility=None)
        )
        stored = await run_service.stored_round(session, experiment_id, 1)
        assert stored is not None and stored.combined is not None
        combined = dict(stored.combined)
        combined["mention_rates"] = {
            k: v for k, v in combined["mention_rates"].items() if k != "Pipedrive"
        }
        stored.combined = combined

    newest_first = await _significance(runtime, experiment_id, count=3, baseline_runs=2)
    assert [run.round for run in newest_first] == [3, 2, 1]
    third, second, first = newest_first
    # Run 2 has no figures: run 3 is compared with run 1, the only complete one of 1–2.
    assert third.previous == 1 and third.baseline == [1]
    assert third.vs_previous is not None
    pipedrive = third.vs_previous.get(Figure(None, Metric.MENTION_RATE, "Pipedrive"))
    assert pipedrive is not None and not pipedrive.tested and pipedrive.p_value is None
    assert pipedrive.reason == "no figure in one of the runs"
    assert pipedrive.before is None and pipedrive.after is not None
    # Run 2 is still compared by its providers' own figures (they were kept).
    assert second.previous == 1 and second.vs_previous is not None
    assert second.vs_previous.get(VISIBILITY) is not None
    assert not second.vs_previous.get(VISIBILITY).tested  # type: ignore[union-attr]
    assert first.previous is None and first.vs_previous is None and first.vs_baseline is None
    assert first.note == "not tested: no complete run among the previous 2"


async def test_a_run_in_progress_tests_only_its_finished_providers(runtime: Runtime) -> None:
    experiment_id = await _runs(runtime, [STEADY])
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        await run_service.start_run(session, experiment, chunk_size=60, now=utcnow())
    [running] = await _significance(runtime, experiment_id)
    assert running.round == 2 and not running.complete
    assert running.note == "run in progress: only its finished providers are tested"
    assert running.vs_previous is not None and running.vs_previous.tested == 0
    assert running.vs_previous.significant == []


async def test_the_baseline_needs_a_run(runtime: Runtime) -> None:
    experiment_id = await _runs(runtime, [STEADY])
    with pytest.raises(ValueError, match="at least one run"):
        await _significance(runtime, experiment_id, baseline_runs=0)


# --- runs with real providers: test doubles of vendors at the network edge ---------------


class Vendor:
    """A vendor at the network edge: iteration i names HubSpot when i < ``mentions``
    (Salesforce always), or every call is refused for a bad key when ``failing``."""

    def __init__(self, name: str, mentions: int) -> None:
        self.name = name
        self.mentions = mentions
        self.failing = False

    async def complete(self, request: CompletionRequest) -> Completion:
        if self.failing:
            raise AuthenticationFailed("Incorrect API key provided.", status_code=401)
        assert request.seed is not None
        index = request.seed % 1_000_003  # the runner seeds iteration i with seed·k + i
        named = "1. HubSpot\n2. Salesforce" if index < self.mentions else "1. Salesforce"
        return Completion(
            text=named,
            model_version=request.model,
            input_tokens=20,
            output_tokens=10,
            latency_ms=5.0,
            answer_class=AnswerClass.COMPLETE,
            stop_reason="stop",
        )

    async def aclose(self) -> None:
        return None


OPENAI = "openai:gpt-4o-mini"
ANTHROPIC = "anthropic:claude-haiku-4-5"


def _vendors(runtime: Runtime, **mentions: int) -> dict[str, Vendor]:
    doubles = {name: Vendor(name, count) for name, count in mentions.items()}
    for double in doubles.values():
        runtime.providers.register(double)
    runtime.runner.retry_policy = RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0)
    return doubles


async def test_demo_figures_are_a_family_apart_and_labelled_synthetic(runtime: Runtime) -> None:
    # The real provider answers alike in both runs; the demo's chance of HubSpot jumps.
    _vendors(runtime, openai=9)
    experiment_id = await _runs(
        runtime,
        [{"HubSpot": 0.2}, {"HubSpot": 0.95}],
        iterations=30,
        providers=[OPENAI, "demo"],
    )
    [latest] = await _significance(runtime, experiment_id)
    assert latest.synthetic and latest.vs_previous is not None
    real, synthetic = latest.vs_previous.families
    assert (real.synthetic, synthetic.synthetic) == (False, True)

    # The real family: the real provider and the real providers pooled, nothing else.
    assert {t.figure.provider for t in real.tests} == {None, OPENAI}
    assert real.tested == 2 * (4 + 3) and not any(t.synthetic for t in real.tests)
    assert real.significant == []
    assert real.statement == "14 tests, false discovery rate controlled at 5% (Benjamini–Hochberg)"
    pooled = real.get(VISIBILITY)
    assert pooled is not None and pooled.before == Rate.of(9, 30) == pooled.after
    # Its q-values are adjusted over its own tests only.
    tested = [t for t in real.tests if t.tested]
    assert [t.q_value for t in tested] == pytest.approx(
        benjamini_hochberg([t.p_value or 0.0 for t in tested])
    )

    # The demo's figures: tested apart, its jump found and labelled synthetic.
    demo = {t.figure.provider for t in synthetic.tests}
    assert len(demo) == 1 and next(iter(demo)) not in (None, OPENAI)
    assert synthetic.tested == 4 + 3 and all(t.synthetic for t in synthetic.tests)
    assert synthetic.statement.startswith("synthetic (demo) figures: 7 tests, false discovery")
    [jump] = [t for t in synthetic.significant if t.figure.metric is Metric.VISIBILITY]
    assert jump.synthetic and jump.points is not None and jump.points > 0.5
    assert latest.vs_previous.significant == synthetic.significant
    assert latest.vs_previous.tested == 14 + 7
    assert latest.vs_previous.statement == f"{real.statement}; {synthetic.statement}"
    assert latest.vs_previous.pooled_note is None

    # The overview and the trend test the same real-only pooled figure, not synthetic.
    trend = await _trend(runtime, experiment_id)
    assert [c.run.synthetic for c in trend] == [False, False]
    assert trend[1].change is not None and trend[1].change.after == Rate.of(9, 30)
    assert trend[1].change.q_value == trend[1].change.p_value == 1.0


async def _trend(runtime: Runtime, experiment_id: uuid.UUID) -> list[history.RunChange]:
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id, runs=0)
        recent = await history.recent_runs(session, [experiment.id])
    return history.run_changes(recent[experiment_id])


async def test_pooled_figures_are_compared_only_between_runs_pooling_the_same_providers(
    runtime: Runtime,
) -> None:
    vendors = _vendors(runtime, openai=5, anthropic=30)
    experiment_id = await _runs(runtime, [{}], iterations=30, providers=[OPENAI, ANTHROPIC])
    vendors["anthropic"].failing = True  # run 2 is complete, anthropic's batch failed
    await _run_again(runtime, experiment_id, [{}])
    vendors["anthropic"].failing = False
    await _run_again(runtime, experiment_id, [{}])

    third, second = await _significance(runtime, experiment_id, count=2)
    assert second.complete and second.previous == 1
    for run in (second, third):
        for tests in (run.vs_previous, run.vs_baseline):
            assert tests is not None
            why = f"not tested: the runs pool different providers (not in all of them: {ANTHROPIC})"
            assert tests.pooled_note == why
            # Pooled, 5 of 30 against 35 of 60 would be a "change" of the mix alone.
            for test in tests.tests:
                if test.figure.provider is None:
                    assert not test.tested and test.reason == why and not test.significant
            own = tests.get(Figure(OPENAI, Metric.VISIBILITY))
            assert own is not None and own.tested and not own.significant
    assert [len(run.vs_previous.families) for run in (second, third)] == [1, 1]  # type: ignore[union-attr]

    # Runs 1 and 3 pool the same providers: their pooled figures are tested.
    pair = await _pair(runtime, experiment_id, 1, 3)
    pooled = pair.tests.get(VISIBILITY)
    assert pooled is not None and pooled.tested and pooled.before == Rate.of(35, 60)
    assert pair.tests.pooled_note is None
    two = await _pair(runtime, experiment_id, 1, 2)
    assert two.combined.change is None and two.combined.note is not None
    assert two.combined.note.startswith("not tested: the runs pool different providers")


async def _pair(runtime: Runtime, experiment_id: uuid.UUID, a: int, b: int) -> history.Comparison:
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id, runs=0)
        return (await history.run_pair(session, experiment, a, b)).comparison
