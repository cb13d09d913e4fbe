"""Sentiment is scored with the answers of a run, and a re-score fills it in answers
stored before it was (no new call), on both backends."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, update

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import Extraction
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import history
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, Iteration
from tests.factories import experiment_input


async def _run(runtime: Runtime, iterations: int) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session, experiment_input(iterations=iterations), chunk_size=25
        )
    await runtime.executor.run_experiment(created.id)
    return created.id


async def _extractions(runtime: Runtime, experiment_id: uuid.UUID) -> list[dict[str, Any]]:
    async with transaction(runtime.session_factory) as session:
        rows = await session.scalars(
            select(Iteration.extraction)
            .join(BatchRun)
            .where(BatchRun.experiment_id == experiment_id, Iteration.success.is_(True))
            .order_by(Iteration.index)
        )
        return [row for row in rows if row is not None]


@pytest.mark.usefixtures("backend")
async def test_a_run_scores_sentiment_and_a_rescore_fills_answers_stored_without_it(
    runtime: Runtime,
) -> None:
    experiment_id = await _run(runtime, iterations=40)
    stored = await _extractions(runtime, experiment_id)
    assert stored and all(e["sentiment_method"] == "lexicon-1" for e in stored)
    labels = {
        s["label"] for e in stored for s in e["sentiment"].values()
    }  # the demo speaks well of some brands and ill of others
    assert {"positive", "negative"} <= labels
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        report = await experiment_service.report(session, experiment)
    combined = report.combined
    assert combined is not None and combined.sentiment is not None
    target = experiment.brands["target"]["name"]
    named = sum(1 for e in stored if target in e["brands_in_order"])
    assert combined.sentiment[target].answers == named
    scored_first = combined.sentiment

    # As if stored before sentiment was scored: no sentiment in the answers nor metrics.
    async with transaction(runtime.session_factory) as session:
        rows = (
            await session.execute(
                select(Iteration.id, Iteration.extraction)
                .join(BatchRun)
                .where(BatchRun.experiment_id == experiment_id, Iteration.success.is_(True))
            )
        ).all()
        for row in rows:
            old = dict(row.extraction)
            old.pop("sentiment"), old.pop("sentiment_method")
            await session.execute(
                update(Iteration).where(Iteration.id == row.id).values(extraction=old)
            )
        experiment = await experiment_service.get(session, experiment_id)
        brands = BrandSet.model_validate(experiment.brands)
        for batch in experiment.batch_runs:
            await run_service.store_metrics(session, batch, brands)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        report = await experiment_service.report(session, experiment)
        assert report.batches[0][1] is not None and report.batches[0][1].sentiment is None
        answers_before = await experiment_service.answers(session, experiment)
        await experiment_service.rescore(session, experiment, actor=Actor.cli())
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        report = await experiment_service.report(session, experiment)
        assert await experiment_service.answers(session, experiment) == answers_before
    assert report.combined is not None and report.combined.sentiment is not None
    # The same figures (floating-point sums may differ in the last bit: the database
    # returns the answers in any order).
    again = report.combined.sentiment
    assert set(again) == set(scored_first)
    for brand, first in scored_first.items():
        found = again[brand]
        assert (found.answers, found.positive, found.neutral, found.negative) == (
            first.answers, first.positive, first.neutral, first.negative,
        )  # fmt: skip
        assert found.score.n == first.score.n
        assert found.score.total == pytest.approx(first.score.total)
        assert found.score.squares == pytest.approx(first.score.squares)
    rescored = await _extractions(runtime, experiment_id)
    assert [Extraction.from_dict(e).sentiment for e in rescored] == [
        Extraction.from_dict(e).sentiment for e in stored
    ]


@pytest.mark.usefixtures("backend")
async def test_answers_filter_by_how_they_speak_of_the_target(runtime: Runtime) -> None:
    experiment_id = await _run(runtime, iterations=40)
    stored = await _extractions(runtime, experiment_id)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        target = experiment.brands["target"]["name"]
        batches = await history.round_batches(session, experiment_id, [1])
        seen: dict[str, list[int]] = {}
        for shown in (history.Shown.POSITIVE, history.Shown.NEUTRAL, history.Shown.NEGATIVE):
            page = await history.answers_page(
                session, batches, target=target, shown=shown, limit=100
            )
            seen[shown.value] = [item.index for item in page.items]
            for item in page.items:
                assert item.extraction is not None
                assert item.extraction["sentiment"][target]["label"] == shown.value
    expected = Counter(
        e["sentiment"][target]["label"] for e in stored if target in e.get("sentiment", {})
    )
    assert {label: len(found) for label, found in seen.items() if found} == dict(expected)
    assert sum(len(found) for found in seen.values()) == sum(
        1 for e in stored if target in e["brands_in_order"]
    )
