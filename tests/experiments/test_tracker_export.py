"""A tracker's figures over time (its prompts' recent runs pooled, in the API and on its
page) and its export (CSV and JSON over HTTP): one row per figure, with counts, intervals
and the synthetic label."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.experiments.tracker_export import COLUMNS
from echo_ai.runs.models import Experiment
from tests.experiments.test_trackers_api import BRANDS, PROMPTS
from tests.kit import app_runtime, register_and_login, wait_finished, wait_until
from tests.web.pages import page, post_form, sign_up, text_of

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The service's scheduler ticks often here, so a due run starts within the test."""
    settings.worker.beat_interval_seconds = 0.5
    return settings


def _body(prompts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "CRM questions",
        "prompts": prompts,
        "brands": BRANDS,
        "providers": ["demo", "demo:second"],
        "iterations": 6,
        **extra,
    }


async def _finished_tracker(
    client: httpx.AsyncClient, headers: dict[str, str], prompts: list[dict[str, Any]], **extra: Any
) -> tuple[str, list[str]]:
    created = await client.post("/v1/trackers", headers=headers, json=_body(prompts, **extra))
    assert created.status_code == 202, created.text
    ids: list[str] = created.json()["experiment_ids"]
    for experiment_id in ids:
        assert (await wait_finished(client, experiment_id, headers))["status"] == "completed"
    return created.json()["tracker"]["id"], ids


async def test_the_export_has_every_figure_with_its_interval_and_label(
    client: httpx.AsyncClient,
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    prompts = [*PROMPTS, {"prompt": "Which CRM for a sales team?", "topic": "=SUM(A1:A9)"}]
    tracker_id, ids = await _finished_tracker(client, ada, prompts)
    detail = (await client.get(f"/v1/trackers/{tracker_id}", headers=ada)).json()

    response = await client.get(f"/v1/trackers/{tracker_id}/export.csv", headers=ada)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="tracker-{tracker_id}.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == COLUMNS
    table = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert {row["tracker_id"] for row in table} == {tracker_id}
    assert {row["synthetic"] for row in table} == {"True"}

    overall = next(r for r in table if r["level"] == "overall" and r["metric"] == "visibility")
    expected = detail["overall"]["visibility"]
    assert int(overall["numerator"]) == expected["numerator"]
    assert int(overall["denominator"]) == expected["denominator"] == 5 * 2 * 6
    assert int(overall["prompts"]) == 5 and overall["interval"] == "cluster-t"
    assert float(overall["ci_low"]) == pytest.approx(expected["ci_low"], abs=1e-6)
    assert float(overall["ci_high"]) == pytest.approx(expected["ci_high"], abs=1e-6)
    mentions = {r["brand"] for r in table if r["level"] == "overall" and r["brand"]}
    assert mentions == {"HubSpot", "Salesforce", "Pipedrive"}

    # Text a spreadsheet would run is neutralised; a one-prompt topic has no interval.
    topics = {r["topic"] for r in table if r["level"] == "topic"}
    assert topics == {"'=SUM(A1:A9)", "enterprise", "startups", ""}
    lone = next(r for r in table if r["topic"] == "enterprise" and r["metric"] == "visibility")
    assert lone["ci_low"] == "" and lone["interval"] == "none" and "one prompt" in lone["note"]

    per_prompt = [r for r in table if r["level"] == "prompt" and r["metric"] == "visibility"]
    assert [r["experiment_id"] for r in per_prompt] == ids
    first = detail["prompt_results"][0]["visibility"]
    assert int(per_prompt[0]["numerator"]) == first["numerator"]
    assert per_prompt[0]["interval"] == "wilson" and per_prompt[0]["run"] == "1"

    as_json = await client.get(f"/v1/trackers/{tracker_id}/export.json", headers=ada)
    assert as_json.headers["content-type"] == "application/json"
    document = json.loads(as_json.text)
    assert document["tracker_id"] == tracker_id and document["synthetic"] is True
    assert len(document["items"]) == len(table)
    assert document["items"][0]["numerator"] == expected["numerator"]
    assert document["items"][0]["ci_low"] == pytest.approx(expected["ci_low"])
    assert set(document["items"][0]) == set(COLUMNS)


async def test_exports_are_refused_for_another_workspace_and_an_unknown_format(
    client: httpx.AsyncClient,
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    eve = await register_and_login(client, "eve@example.com")
    tracker_id, _ = await _finished_tracker(client, ada, PROMPTS[:2])
    foreign = await client.get(f"/v1/trackers/{tracker_id}/export.csv", headers=eve)
    assert foreign.status_code == 404
    unknown = await client.get(f"/v1/trackers/{tracker_id}/export.xlsx", headers=ada)
    assert unknown.status_code == 422
    missing = await client.get(f"/v1/trackers/{uuid.uuid4()}/export.csv", headers=ada)
    assert missing.status_code == 404 and missing.json()["error"]["code"]


async def test_overall_visibility_over_time_pools_each_prompts_runs_back(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    """A scheduled tracker run twice has two points: the latest is the overall figure, the
    earlier pools every prompt's first run; a prompt added after the first run is only in
    the latest point."""
    ada = await register_and_login(client, "ada@example.com")
    schedule = {"cron": "0 9 * * 1", "timezone": "UTC"}
    tracker_id, ids = await _finished_tracker(client, ada, PROMPTS[:3], schedule=schedule)
    single = (await client.get(f"/v1/trackers/{tracker_id}", headers=ada)).json()
    assert [p["runs_back"] for p in single["over_time"]] == [0]

    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id.in_([uuid.UUID(i) for i in ids]))
            .values(next_run_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    async def ran_again() -> bool:
        for experiment_id in ids:
            detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=ada)).json()
            if detail["runs"] != 2 or detail["status"] != "completed":
                return False
        return True

    await wait_until(ran_again, within=60, message="the scheduled runs did not happen")
    added = await client.post(
        f"/v1/trackers/{tracker_id}/prompts",
        headers=ada,
        json={"prompts": [{"prompt": "Which CRM has the best mobile app?"}]},
    )
    assert added.status_code == 202
    await wait_finished(client, added.json()["experiment_ids"][0], ada)

    detail = (await client.get(f"/v1/trackers/{tracker_id}", headers=ada)).json()
    points = detail["over_time"]
    assert [(p["runs_back"], p["prompts"]) for p in points] == [(1, 3), (0, 4)]
    assert points[-1]["visibility"] == detail["overall"]["visibility"]
    assert all(p["synthetic"] for p in points)
    earlier = points[0]["visibility"]
    assert earlier["denominator"] == 3 * 2 * 6 and earlier["method"] == "cluster-t"
    assert earlier["ci_low"] <= earlier["value"] <= earlier["ci_high"]
    assert points[0]["started_at"] < points[1]["started_at"]

    exported = await client.get(f"/v1/trackers/{tracker_id}/export.csv", headers=ada)
    table = [dict(zip(COLUMNS, row, strict=True)) for row in csv.reader(io.StringIO(exported.text))]
    over_time = [r for r in table if r["level"] == "over_time"]
    assert [(r["runs_back"], r["prompts"]) for r in over_time] == [("1", "3"), ("0", "4")]
    assert int(over_time[0]["numerator"]) == earlier["numerator"]


async def test_the_tracker_page_shows_visibility_over_time_once_prompts_ran_twice(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    """The page's table and chart data over time, from the same figures as the API."""
    await sign_up(client)
    created = await post_form(
        client,
        "/trackers/new",
        {
            "name": "Weekly CRM questions",
            "brand.name": "HubSpot",
            "competitors.0.name": "Salesforce",
            "providers": ["demo"],
            "iterations": "4",
            "prompts": "Best CRM for a startup?\nCheapest CRM?",
        },
        token_from="/trackers/new",
    )
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    tracker_id = uuid.UUID(location.rsplit("/", 1)[1])

    async def finished(runs: int) -> bool:
        async with transaction(app_runtime(started_app).session_factory) as session:
            rows = (
                await session.execute(
                    select(Experiment.runs, Experiment.status).where(
                        Experiment.tracker_id == tracker_id
                    )
                )
            ).all()
        return len(rows) == 2 and all(r == runs and s == "completed" for r, s in rows)

    await wait_until(lambda: finished(1), within=60, message="the prompts did not finish")
    assert "Overall visibility over time" not in await page(client, location)
    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.tracker_id == tracker_id)
            .values(schedule_cron="0 9 * * 1", next_run_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    await wait_until(lambda: finished(2), within=60, message="the scheduled runs did not happen")

    html = await page(client, location)
    assert "Overall visibility over time" in text_of(html) and "(latest)" in text_of(html)
    found = re.search(r"<div id=\"chart-data\" hidden data-charts='(.*?)'></div>", html)
    assert found is not None
    trend = json.loads(unescape(found.group(1)))["trend"]
    assert len(trend["labels"]) == len(trend["points"]) == 2
    assert all(p["n"] == 2 * 4 and p["low"] <= p["value"] <= p["high"] for p in trend["points"])
