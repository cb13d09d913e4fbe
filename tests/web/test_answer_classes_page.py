"""Answers that are not samples (truncated, refused, empty) and reasoning where users see
them: the answers page (badges, reasons, the reasoning kept apart, the filters), the
metrics table and live progress of the experiment page, the API and the exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.analysis.scoring import failure_row, success_row
from echo_ai.db import transaction
from echo_ai.execution.writer import BATCH_PARAMETERS, insert_iterations
from echo_ai.experiments import history
from echo_ai.experiments import service as experiment_service
from echo_ai.providers.base import AnswerClass, Completion, ProviderError
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun
from echo_ai.web.pages.experiment_view import sent_line
from tests.factories import brand_set, experiment_input
from tests.kit import app_runtime
from tests.web.pages import HTML, page, text_of
from tests.web.workspace_pages import queued_experiment, signed_in

MATCHER = BrandMatcher(brand_set())
SENT = {"endpoint": "chat.completions", "temperature": 0.7, "max_completion_tokens": 2048}


def _answer(
    text: str,
    answer_class: AnswerClass = AnswerClass.COMPLETE,
    *,
    stop_reason: str = "stop",
    reasoning: str | None = None,
    reasoning_tokens: int | None = None,
) -> Completion:
    return Completion(
        text=text,
        model_version="gpt-4o-mini-2024-07-18",
        input_tokens=100,
        output_tokens=200,
        latency_ms=80.0,
        answer_class=answer_class,
        stop_reason=stop_reason,
        reasoning=reasoning,
        reasoning_tokens=reasoning_tokens,
        parameters=SENT,
    )


STORED: list[tuple[Completion | None, int]] = [
    # (the answer, or None for a failed call; the calls made)
    (
        _answer(
            "HubSpot is the best choice.",
            reasoning="Salesforce <b>may</b> be too big; Pipedrive is cheaper.",
            reasoning_tokens=640,
        ),
        1,
    ),
    (_answer("Pipedrive, then Salesforce."), 1),
    (_answer("Top CRMs: 1. HubSpot 2. Sales", AnswerClass.TRUNCATED, stop_reason="length"), 2),
    (_answer("I can't help with that.", AnswerClass.REFUSED, stop_reason="refusal"), 1),
    (_answer("", AnswerClass.EMPTY), 1),
    (None, 3),
]
"""One answer of each kind: 0 names the target, 1 does not, 2 is cut off (naming the
target before the cut, asked again and cut off again), 3 refused, 4 empty, 5 failed."""


async def store_answers(app: FastAPI, experiment_id: str) -> uuid.UUID:
    """The answers stored as the runner stores them (the writer moves the counters and
    records the parameters) and the batch finished; its id."""
    async with transaction(app_runtime(app).session_factory) as session:
        batch = await session.scalar(
            select(BatchRun).where(BatchRun.experiment_id == uuid.UUID(experiment_id))
        )
        assert batch is not None
        rows: list[dict[str, Any]] = []
        for index, (completion, calls) in enumerate(STORED):
            common: dict[str, Any] = {
                "batch_run_id": batch.id,
                "index": index,
                "vendor": batch.provider,
                "model": batch.model,
                "attempts": calls,
            }
            if completion is None:
                rows.append(failure_row(**common, error=ProviderError("the vendor timed out")))
            else:
                row = success_row(**common, completion=completion, matcher=MATCHER)
                rows.append(row | {BATCH_PARAMETERS: dict(completion.parameters)})
        await insert_iterations(session, rows)
        batch_id = batch.id
    async with transaction(app_runtime(app).session_factory) as session:
        assert await run_service.finalize_if_complete(session, batch_id)
    return batch_id


async def _experiment(client: httpx.AsyncClient, app: FastAPI) -> tuple[str, dict[str, str]]:
    headers = await signed_in(client)
    experiment_id = await queued_experiment(
        app, providers=["openai:gpt-4o-mini"], iterations=len(STORED)
    )
    await store_answers(app, experiment_id)
    return experiment_id, headers


def _titles(html: str) -> list[str]:
    """The answers listed, by their titles (``answer 3`` is index 2)."""
    return [part.split("</h3>")[0] for part in html.split('class="answer-title">')[1:]]


async def test_answers_page_marks_answers_not_counted_and_keeps_reasoning_apart(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    experiment_id, _ = await _experiment(client, app)
    html = await page(client, f"/experiments/{experiment_id}/answers")

    assert len(_titles(html)) == 6
    articles = html.split('<article class="answer')[1:]
    truncated, refused, empty = articles[2], articles[3], articles[4]
    assert '<span class="badge status-partial not-counted"' in truncated
    assert ">truncated</span>" in truncated
    text = text_of(truncated)
    assert "Not counted: cut off by the output limit; the vendor's reason: length" in text
    assert "<code>length</code>" in truncated
    assert "2 calls (a cut-off answer is asked again once, with a larger limit)" in text
    assert "names HubSpot" not in truncated  # it names it, but it is no sample
    assert "Not counted: the assistant declined to answer; the vendor's reason: refusal" in (
        text_of(refused)
    )
    assert "Not counted: no answer text; the vendor's reason: stop" in text_of(empty)
    assert "Not counted" not in articles[0] + articles[1] + articles[5]

    # The reasoning: in a closed disclosure, escaped, never highlighted as mentions.
    first = articles[0]
    assert (
        '<details class="reasoning small"><summary>Reasoning (not scored) · 640 tokens</summary>'
        in first
    )
    reasoning = first.split('<div class="answer-text reasoning-text">')[1].split("</div>")[0]
    assert reasoning == "Salesforce &lt;b&gt;may&lt;/b&gt; be too big; Pipedrive is cheaper."
    assert "<mark" not in reasoning
    assert "Reasoning (not scored)" not in "".join(articles[1:])


async def test_the_mention_filters_list_complete_answers_and_a_filter_lists_the_others(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    experiment_id, _ = await _experiment(client, app)
    base = f"/experiments/{experiment_id}/answers"

    everything = await page(client, base)
    assert '<option value="not-counted">Not counted (truncated/refused/empty)</option>' in (
        everything
    )
    # The truncated answer names HubSpot too, but only complete answers are samples.
    assert _titles(await page(client, f"{base}?shown=mentioned")) == [
        "<code>openai:gpt-4o-mini</code> · answer 1"
    ]
    # Refused and empty answers name no one, and are no samples either.
    assert _titles(await page(client, f"{base}?shown=not-mentioned")) == [
        "<code>openai:gpt-4o-mini</code> · answer 2"
    ]
    not_counted = await page(client, f"{base}?shown=not-counted")
    assert [title.rsplit(" ", 1)[1] for title in _titles(not_counted)] == ["3", "4", "5"]
    assert '<option value="not-counted" selected>' in not_counted
    assert [t.rsplit(" ", 1)[1] for t in _titles(await page(client, f"{base}?shown=failed"))] == [
        "6"
    ]


async def test_the_metrics_table_and_progress_count_each_kind_and_say_what_was_sent(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    experiment_id, _ = await _experiment(client, app)
    html = await page(client, f"/experiments/{experiment_id}")

    metrics = text_of(html.split('id="metrics"')[1].split("</section>")[0]).replace(" ,", ",")
    assert "2 complete, 1 failed, 1 truncated, 1 refused, 1 empty" in metrics
    assert "Sent: temperature 0.7 · output limit 2,048 tokens" in metrics
    # Visibility: 1 of the 2 complete answers names HubSpot.
    assert "n = 2" in metrics.replace("\xa0", " ")

    got = await client.get(
        f"/experiments/{experiment_id}/progress", headers={"HX-Request": "true", **HTML}
    )
    progress = got.text
    assert '<th scope="col" class="num">Not counted</th>' in progress
    assert 'title="1 truncated, 1 refused, 1 empty">3</td>' in progress


def test_the_sent_line_says_what_the_answers_were_sampled_with() -> None:
    assert sent_line(None) is None and sent_line({}) is None
    assert sent_line({"temperature": 1, "max_output_tokens": 16384}) == (
        "temperature 1 · output limit 16,384 tokens"
    )
    # A model that takes no temperature: the vendor's default was used.
    assert sent_line({"temperature": None, "temperature_used": 1.0, "max_tokens": 4096}) == (
        "no temperature sent (the model takes none; it samples at its default, 1)"
        " · output limit 4,096 tokens"
    )
    assert sent_line({"temperature": None, "max_output_tokens": 16384}) == (
        "no temperature sent (the model takes none) · output limit 16,384 tokens"
    )
    # Anthropic's temperature stops at 1: what was used, not what was asked.
    assert sent_line({"temperature": 1.0, "max_tokens": 2048}) == (
        "temperature 1 · output limit 2,048 tokens"
    )


async def test_the_api_shows_classes_reasoning_counts_and_the_parameters_sent(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    experiment_id, headers = await _experiment(client, app)

    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=headers)).json()
    (provider,) = detail["providers"]
    counts = {key: provider[key] for key in ("succeeded", "failed", "truncated", "refused")}
    assert counts == {"succeeded": 2, "failed": 1, "truncated": 1, "refused": 1}
    assert (provider["empty"], provider["stored"]) == (1, 6)
    assert provider["parameters"] == SENT
    assert provider["metrics"]["visibility"]["denominator"] == 2
    assert (provider["metrics"]["truncated"], provider["metrics"]["empty"]) == (1, 1)

    listing = await client.get(f"/v1/experiments/{experiment_id}/iterations", headers=headers)
    items = listing.json()["items"]
    assert [item["answer_class"] for item in items] == [
        "complete",
        "complete",
        "truncated",
        "refused",
        "empty",
        None,
    ]
    assert [item["stop_reason"] for item in items] == [
        "stop",
        "stop",
        "length",
        "refusal",
        "stop",
        None,
    ]
    assert items[0]["reasoning"] == "Salesforce <b>may</b> be too big; Pipedrive is cheaper."
    assert items[0]["reasoning_tokens"] == 640
    assert items[0]["answer"] == "HubSpot is the best choice."
    assert items[2]["success"] is True and items[5]["success"] is False
    assert items[2]["output_tokens"] == 200 and items[2]["attempts"] == 2


async def test_exports_carry_the_class_the_reason_and_the_reasoning_tokens(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    experiment_id, headers = await _experiment(client, app)

    got = await client.get(f"/v1/experiments/{experiment_id}/export.csv", headers=headers)
    assert got.status_code == 200
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [row["answer_class"] for row in rows] == [
        "complete",
        "complete",
        "truncated",
        "refused",
        "empty",
        "",
    ]
    assert [row["stop_reason"] for row in rows][2:4] == ["length", "refusal"]
    assert [row["reasoning_tokens"] for row in rows][:2] == ["640", ""]
    assert "reasoning" not in rows[0]  # the reasoning text is in JSON Lines only
    assert "Pipedrive is cheaper" not in got.text

    lines = await client.get(f"/v1/experiments/{experiment_id}/export.jsonl", headers=headers)
    items = [json.loads(line) for line in lines.text.splitlines()]
    assert [item["answer_class"] for item in items][2:5] == ["truncated", "refused", "empty"]
    assert items[0]["reasoning"] == "Salesforce <b>may</b> be too big; Pipedrive is cheaper."
    assert items[0]["reasoning_tokens"] == 640


@pytest.mark.usefixtures("backend")
async def test_the_filters_page_through_a_bounded_stretch_on_both_databases(
    app: FastAPI, started_app: FastAPI
) -> None:
    factory = app_runtime(app).session_factory
    async with transaction(factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(providers=["openai:gpt-4o-mini"], iterations=len(STORED)),
            chunk_size=10,
        )
    await store_answers(app, str(created.id))

    async def listed(shown: history.Shown) -> list[int]:
        found: list[int] = []
        after = None
        async with transaction(factory) as session:
            batches = await history.round_batches(session, created.id, [1])
            while True:
                page_ = await history.answers_page(
                    session,
                    batches,
                    target="HubSpot",
                    shown=shown,
                    limit=2,
                    after=after,
                    scan_limit=2,
                )
                found += [item.index for item in page_.items]
                if page_.after is None:
                    return found
                after = page_.after

    assert await listed(history.Shown.MENTIONED) == [0]
    assert await listed(history.Shown.NOT_MENTIONED) == [1]
    assert await listed(history.Shown.NOT_COUNTED) == [2, 3, 4]
    assert await listed(history.Shown.FAILED) == [5]
    assert await listed(history.Shown.ALL) == list(range(6))
