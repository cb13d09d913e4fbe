"""Each run tested against the previous run and its baseline, on real runs of the demo
provider stored in the database (the tests read only the stored counts)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update

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
from echo_ai.runs import service as run_service
from echo_ai.runs.models import ExperimentRound
from tests.factories import experiment_input

STEADY = {"HubSpot": 0.3, "Salesforce": 0.5}
JUMP = {"HubSpot": 0.95, "Salesforce": 0.5}
VISIBILITY = Figure(None, Metric.VISIBILITY)


async def _runs(runtime: Runtime, probabilities: list[dict[str, float]]) -> uuid.UUID:
    """An experiment run once per entry, each run with those demo probabilities."""
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(iterations=60, demo_probabilities=probabilities[0]),
            chunk_size=60,
        )
    await runtime.executor.run_experiment(created.id)
    for chances in probabilities[1:]:
        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, created.id)
            experiment.demo_probabilities = chances
            await run_service.start_run(session, experiment, chunk_size=60, now=utcnow())
        await runtime.executor.run_experiment(created.id)
    return created.id


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


async def test_a_baseline_window_and_runs_without_figures(runtime: Runtime) -> None:
    experiment_id = await _runs(runtime, [STEADY, STEADY, STEADY])
    # An old run stored without figures (as before runs kept them), and a brand missing
    # from another run's figures (it was tracked later): neither breaks the tests.
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(ExperimentRound)
            .where(ExperimentRound.experiment_id == experiment_id, ExperimentRound.round == 2)
            .values(combined=None)
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
