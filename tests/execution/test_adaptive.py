"""Adaptive sampling through the runner (issue 14): batches asked in rounds of ten until the
precision is reached, on a real database (SQLite and PostgreSQL), with the offline demo
provider mentioning the target at a set rate."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.sampling import ROUND, StoppingRule
from echo_ai.analysis.statistics import wilson_half_width
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.runs.adaptive import Progress
from echo_ai.runs.models import BatchRun, BatchStatus, Iteration
from tests.factories import stored_batches, stored_experiment

pytestmark = pytest.mark.usefixtures("backend")


def precision(half_width: float = 0.05, **more: Any) -> dict[str, Any]:
    return {"metric": "visibility", "half_width": half_width, **more}


async def _mentions_by_index(runtime: Runtime, batch_id: uuid.UUID) -> list[bool | None]:
    """For each stored iteration in index order: whether its answer names the target
    (None for one that is not a complete answer)."""
    async with transaction(runtime.session_factory) as session:
        rows = (
            await session.execute(
                select(Iteration.success, Iteration.answer_class, Iteration.extraction)
                .where(Iteration.batch_run_id == batch_id)
                .order_by(Iteration.index)
            )
        ).all()
    found: list[bool | None] = []
    for row in rows:
        complete = row.success and row.answer_class in (None, "complete")
        found.append("HubSpot" in row.extraction["brands_in_order"] if complete else None)
    return found


def _first_stop(mentions: list[bool | None], rule: StoppingRule) -> int:
    """Where the rule stops on these answers, looking after every round of ten calls."""
    for end in range(ROUND, len(mentions) + 1, ROUND):
        counted = [m for m in mentions[:end] if m is not None]
        if end < rule.max_answers and rule.reached(sum(counted), len(counted)):
            return end
    return len(mentions)


async def test_a_rare_brand_stops_early_at_the_first_look_narrow_enough(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(
        runtime.session_factory,
        iterations=1_000,
        precision=precision(0.05),
        demo_probabilities={"HubSpot": 0.05},
    )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert batch.chunk_size == ROUND
    assert batch.iterations_requested < 400  # a fixed count for ±5 points needs 385
    assert batch.iterations_requested % ROUND == 0
    assert batch.stored == batch.iterations_requested
    mentions = await _mentions_by_index(runtime, batch.id)
    assert len(mentions) == batch.iterations_requested
    rule = StoppingRule(0.05, max_answers=1_000)
    assert _first_stop(mentions, rule) == batch.iterations_requested  # not one look later
    assert batch.metrics is not None
    visibility = batch.metrics["visibility"]
    counted = [m for m in mentions if m is not None]
    assert (visibility["numerator"], visibility["denominator"]) == (sum(counted), len(counted))
    assert (visibility["ci_high"] - visibility["ci_low"]) / 2 <= 0.05
    # The tallies of the looks add up to the final rate.
    assert batch.looks is not None
    assert len(batch.looks) == batch.iterations_requested // ROUND
    assert [sum(t) for t in zip(*batch.looks.values(), strict=True)] == [
        visibility["numerator"],
        visibility["denominator"],
    ]


async def test_the_minimum_is_asked_before_the_interval_may_stop(runtime: Runtime) -> None:
    # No answer names the brand: 0 of 30 is ±5.7 points wide, 0 of 40 ±4.4 points.
    free = await stored_experiment(
        runtime.session_factory,
        iterations=500,
        precision=precision(0.05),
        demo_probabilities={"HubSpot": 0.0},
    )
    held = await stored_experiment(
        runtime.session_factory,
        iterations=500,
        precision=precision(0.05, min_answers=70),
        demo_probabilities={"HubSpot": 0.0},
    )
    await runtime.executor.run_experiment(free)
    await runtime.executor.run_experiment(held)

    (stopped_at_40,) = await stored_batches(runtime.session_factory, free)
    (stopped_at_70,) = await stored_batches(runtime.session_factory, held)
    assert wilson_half_width(30, proportion=0.0) > 0.05 >= wilson_half_width(40, proportion=0.0)
    assert stopped_at_40.iterations_requested == 40
    assert stopped_at_70.iterations_requested == 70
    assert stopped_at_70.status == BatchStatus.COMPLETED


async def test_a_target_out_of_reach_runs_to_the_maximum(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(
        runtime.session_factory,
        iterations=60,
        precision=precision(0.05),
        demo_probabilities={"HubSpot": 0.5},
    )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert batch.iterations_requested == batch.stored == 60
    assert batch.precision is not None and batch.precision["max_answers"] == 60


async def test_chunks_run_again_are_tallied_once_and_a_resume_goes_on_from_the_last(
    runtime: Runtime,
) -> None:
    experiment_id = await stored_experiment(
        runtime.session_factory,
        iterations=1_000,
        precision=precision(0.05),
        demo_probabilities={"HubSpot": 0.1},
    )
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    first = await runtime.runner.run_chunk(batch.id, 0)
    again = await runtime.runner.run_chunk(batch.id, 0)  # delivered twice
    second = await runtime.runner.run_chunk(batch.id, 1)
    assert (first.next_chunk, again.next_chunk, second.next_chunk) == (1, 1, 2)
    (partial,) = await stored_batches(runtime.session_factory, experiment_id)
    assert partial.looks is not None and sorted(partial.looks) == ["0", "1"]
    assert sum(n for _, n in partial.looks.values()) == 20  # not 30

    # The process stops here; the next start resumes the batch from chunk 2.
    await runtime.executor.run_experiment(experiment_id)

    (done,) = await stored_batches(runtime.session_factory, experiment_id)
    assert done.status == BatchStatus.COMPLETED
    mentions = await _mentions_by_index(runtime, done.id)
    assert len(mentions) == done.iterations_requested == done.stored
    assert _first_stop(mentions, StoppingRule(0.05, max_answers=1_000)) == len(mentions)


async def test_each_provider_stops_at_its_own_look(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(
        runtime.session_factory,
        iterations=1_000,
        providers=["demo:rare", "demo:common"],
        precision=precision(0.08),
        demo_probabilities={"HubSpot": 0.03},
    )
    await runtime.executor.run_experiment(experiment_id)
    batches: list[BatchRun] = await stored_batches(runtime.session_factory, experiment_id)
    assert {batch.status for batch in batches} == {BatchStatus.COMPLETED}
    for batch in batches:
        mentions = await _mentions_by_index(runtime, batch.id)
        assert _first_stop(mentions, StoppingRule(0.08, max_answers=1_000)) == len(mentions)


async def test_what_users_read_follows_a_re_score_and_a_cancellation(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(
        runtime.session_factory,
        iterations=1_000,
        precision=precision(0.05),
        demo_probabilities={"HubSpot": 0.05, "Salesforce": 0.5},
    )
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    progress = Progress.of(batch)
    assert progress is not None and progress.stopped_early and progress.reached
    assert progress.text.startswith("visibility ±5 points: reached after")

    # Re-scored with Salesforce (named half the time) as the target: the stop was decided
    # on the brands tracked then, and the figures said now are the re-scored ones.
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        brands = BrandSet.model_validate(experiment.brands)
        swapped = BrandSet.model_validate(
            {
                "target": brands.competitors[0].model_dump(),
                "competitors": [brands.target.model_dump()],
            }
        )
        await experiment_service.rescore(session, experiment, brands=swapped, actor=Actor.cli())
    (rescored,) = await stored_batches(runtime.session_factory, experiment_id)
    after = Progress.of(rescored)
    assert after is not None and after.stopped_early and not after.reached
    assert rescored.metrics is not None
    assert after.answers == rescored.metrics["visibility"]["denominator"]
    assert "on the brands tracked then; since re-scored" in after.text

    cancelled = dataclasses.replace(after, status="cancelled", stored=120, stopped_early=False)
    assert cancelled.text.startswith("visibility ±5 points: cancelled after 120 of at most")
    assert dataclasses.replace(after, half_width=0.0303).text.count("±3.03 points") == 1
