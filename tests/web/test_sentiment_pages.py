"""Sentiment on every surface but the browser: the experiment's API document and its
answers listing, the OpenAPI schema, the experiment page's table and chart data, and the
raw answers (tests/web/test_browser_sentiment.py drives a browser)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.analysis.brands import BrandSet
from echo_ai.db import transaction
from echo_ai.experiments import service as experiment_service
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, Iteration
from echo_ai.web.pages.experiment_view import ANSWERS_PER_PAGE
from tests.kit import app_runtime
from tests.web.pages import page, text_of
from tests.web.test_experiment_view import chart_json, finished_experiment, no_inline_code
from tests.web.workspace_pages import signed_in


async def _iterations(
    client: httpx.AsyncClient, experiment_id: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/experiments/{experiment_id}/iterations", headers=headers, params={"limit": 100}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_the_api_gives_sentiment_per_answer_and_per_brand(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=40)
    items = await _iterations(client, detail["id"], headers)
    # Per answer: one entry per brand named, its score within [-1, 1], spans in the text.
    counts = {"HubSpot": {"positive": 0, "neutral": 0, "negative": 0}}
    for item in items:
        named = set(item["brands_in_order"])
        assert {s["brand"] for s in item["sentiment"]} == named
        for s in item["sentiment"]:
            assert -1 <= s["score"] <= 1 and s["method"] == "lexicon-1"
            for start, end in s["spans"]:
                assert 0 <= start < end <= len(item["answer"])
            if s["brand"] == "HubSpot" and item["answer_class"] == "complete":
                counts["HubSpot"][s["label"]] += 1
    # Per brand: the shares of the answers naming it, with Wilson intervals.
    hubspot = detail["combined"]["sentiment"]["HubSpot"]
    assert hubspot["answers"] == detail["combined"]["mention_rates"]["HubSpot"]["numerator"]
    for label, count in counts["HubSpot"].items():
        assert hubspot[label]["numerator"] == count
        assert hubspot[label]["denominator"] == hubspot["answers"]
    assert hubspot["positive"]["ci_low"] <= hubspot["positive"]["value"]
    score = hubspot["score"]
    assert score["n"] == hubspot["answers"]
    assert score["ci_low"] <= score["value"] <= score["ci_high"]
    # The same figures per provider (one provider here).
    provider = detail["providers"][0]["metrics"]["sentiment"]["HubSpot"]
    for label in ("positive", "neutral", "negative"):
        assert provider[label] == hubspot[label]
    assert provider["score"]["n"] == score["n"]
    assert provider["score"]["total"] == pytest.approx(score["total"])


async def test_the_openapi_schema_documents_sentiment(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert "sentiment" in schema["BatchMetrics"]["properties"]
    assert set(schema["SentimentSummary"]["properties"]) >= {
        "answers", "positive", "neutral", "negative", "score",
    }  # fmt: skip
    assert schema["SentimentOut"]["properties"]["label"]["enum"] == [
        "positive", "neutral", "negative",
    ]  # fmt: skip
    assert "sentiment" in schema["IterationOut"]["properties"]


async def test_the_experiment_page_shows_sentiment_per_brand_and_per_answer(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=40)
    html = await page(client, f"/experiments/{detail['id']}")
    no_inline_code(html)
    section = html.split('id="sentiment"')[1].split("</section>")[0]
    heading = section.split("</h2>")[0]
    assert "How each brand is spoken of" in heading and "synthetic" in heading
    hubspot = detail["combined"]["sentiment"]["HubSpot"]
    row = section.split('<tr data-brand="HubSpot">')[1].split("</tr>")[0]
    row_text = text_of(row)
    assert f"{hubspot['positive']['value'] * 100:.1f}%" in row_text
    assert f"{hubspot['score']['value']:+.2f}" in row_text
    assert f"n = {hubspot['answers']}" in row_text
    assert 'class="badge synthetic"' in row
    # The metrics table: the target's sentiment per provider (one provider here).
    metrics_row = html.split('id="metrics"')[1].split("</section>")[0].split("Sentiment<")[1]
    metrics_row = text_of(metrics_row.split("</tr>")[0])
    assert f"{hubspot['score']['value']:+.2f}" in metrics_row
    assert f"{hubspot['positive']['value'] * 100:.1f}% positive" in metrics_row
    data = json.loads(chart_json(html))["sentiment"]
    assert "HubSpot" in data["labels"]
    at = data["labels"].index("HubSpot")
    assert data["positive"][at]["value"] == hubspot["positive"]["value"]

    # The raw answers: a sentiment line per answer and the marks carry their label.
    items = await _iterations(client, detail["id"], headers)
    answers = await page(client, f"/experiments/{detail['id']}/answers")
    first = next(item for item in items if item["sentiment"])
    article = answers.split(f"answer {first['index'] + 1}</h3>")[1].split("</article>")[0]
    line = article.split('class="sentiment-line')[1].split("</p>")[0]
    for s in first["sentiment"]:
        assert f'data-brand="{s["brand"]}" data-sentiment="{s["label"]}"' in line
        assert f"{s['brand']}: {s['label']} {s['score']:+.2f}" in text_of(line)
        assert re.search(rf'title="{s["brand"]}" data-sentiment="{s["label"]}">', article)
    assert "synthetic" in line


async def test_answers_stored_before_sentiment_ask_for_a_rescore(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=10)
    experiment_id = uuid.UUID(detail["id"])
    async with transaction(app_runtime(app).session_factory) as session:
        batch_ids = select(BatchRun.id).where(BatchRun.experiment_id == experiment_id)
        rows = (
            await session.execute(
                select(Iteration.id, Iteration.extraction).where(
                    Iteration.batch_run_id.in_(batch_ids), Iteration.success.is_(True)
                )
            )
        ).all()
        for row in rows:
            old = {k: v for k, v in row.extraction.items() if not k.startswith("sentiment")}
            await session.execute(
                update(Iteration).where(Iteration.id == row.id).values(extraction=old)
            )
        experiment = await experiment_service.get(session, experiment_id)
        brands = BrandSet.model_validate(experiment.brands)
        for batch in experiment.batch_runs:
            await run_service.store_metrics(session, batch, brands)
        await session.flush()
        await run_service.store_round_metrics(session, experiment_id, 1)
    html = await page(client, f"/experiments/{detail['id']}")
    section = text_of(html.split('id="sentiment"')[1].split("</section>")[0])
    assert "re-score the experiment to see it" in section
    answers = await page(client, f"/experiments/{detail['id']}/answers")
    assert "sentiment-line" not in answers and "data-sentiment" not in answers
    items = await _iterations(client, detail["id"], headers)
    assert all(item["sentiment"] == [] for item in items)


async def test_the_answers_filter_by_sentiment_of_the_target(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=40)
    hubspot = detail["combined"]["sentiment"]["HubSpot"]
    base = f"/experiments/{detail['id']}/answers"
    form = await page(client, base)
    assert '<option value="negative">Speaking of HubSpot negatively</option>' in form
    for label in ("positive", "neutral", "negative"):
        html = await page(client, f"{base}?shown={label}")
        shown = html.count('<article class="answer')
        assert shown == min(hubspot[label]["numerator"], ANSWERS_PER_PAGE), label
        assert html.count(f'data-brand="HubSpot" data-sentiment="{label}"') == shown
