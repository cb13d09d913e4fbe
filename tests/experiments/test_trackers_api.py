"""Trackers over HTTP: a set of prompts, one experiment each, with figures per prompt, per
topic and overall (pooled over prompts, intervals over prompts as clusters)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from echo_ai.config import PlanLimits, Settings
from tests.kit import register_and_login, wait_finished, wait_until

pytestmark = pytest.mark.usefixtures("backend")

BRANDS: dict[str, Any] = {
    "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
    "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
}


def _body(prompts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "CRM questions",
        "prompts": prompts,
        "brands": BRANDS,
        "providers": ["demo"],
        "iterations": 10,
        **extra,
    }


PROMPTS = [
    {"prompt": "Best CRM for a startup?", "topic": "startups"},
    {"prompt": "Cheapest CRM for a 5-person team?", "topic": "startups"},
    {"prompt": "Which CRM do enterprises use?", "topic": "enterprise"},
    {"prompt": "Is HubSpot worth it?"},
]


async def test_a_tracker_runs_each_prompt_and_pools_them_over_prompts(
    client: httpx.AsyncClient,
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/trackers", headers=ada, json=_body(PROMPTS))
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["tracker"]["prompts"] == 4
    assert body["tracker"]["topics"] == ["enterprise", "startups"]
    for experiment_id in body["experiment_ids"]:
        assert (await wait_finished(client, experiment_id, ada))["status"] == "completed"

    tracker_id = body["tracker"]["id"]
    detail = (await client.get(f"/v1/trackers/{tracker_id}", headers=ada)).json()
    assert detail["synthetic"] is True and detail["target"] == "HubSpot"
    assert "cluster" in detail["note"]
    overall = detail["overall"]["visibility"]
    prompts = detail["prompt_results"]
    assert [p["prompt"] for p in prompts] == [p["prompt"] for p in PROMPTS]
    assert overall["numerator"] == sum(p["visibility"]["numerator"] for p in prompts)
    assert overall["denominator"] == 40 and overall["prompts"] == 4
    assert overall["method"] == "cluster-t"
    assert overall["ci_low"] <= overall["value"] <= overall["ci_high"]
    assert set(detail["overall"]["mention_rates"]) == {"HubSpot", "Salesforce", "Pipedrive"}
    topics = {group["topic"]: group for group in detail["by_topic"]}
    assert set(topics) == {"enterprise", "startups", None}
    # One prompt in a topic: an estimate but no interval over prompts, and a note why.
    one = topics["enterprise"]["visibility"]
    assert one["denominator"] == 10 and one["ci_low"] is None and "one prompt" in one["note"]
    assert topics["startups"]["visibility"]["prompts"] == 2

    listed = (await client.get("/v1/trackers", headers=ada)).json()
    assert [(t["id"], t["prompts"]) for t in listed] == [(tracker_id, 4)]

    added = await client.post(
        f"/v1/trackers/{tracker_id}/prompts",
        headers=ada,
        json={"prompts": [{"prompt": "CRM with the best email tools?", "topic": "startups"}]},
    )
    assert added.status_code == 202, added.text
    assert added.json()["tracker"]["prompts"] == 5
    new_id = added.json()["experiment_ids"][0]
    new = await wait_finished(client, new_id, ada)
    assert new["iterations"] == 10 and new["brands"]["target"]["name"] == "HubSpot"
    again = await client.post(
        f"/v1/trackers/{tracker_id}/prompts",
        headers=ada,
        json={"prompts": [{"prompt": "best crm for a  startup?"}]},
    )
    assert again.status_code == 409 and "already" in again.json()["error"]["message"]

    deleted = await client.delete(f"/v1/trackers/{tracker_id}", headers=ada)
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/trackers/{tracker_id}", headers=ada)).status_code == 404
    assert (await client.get(f"/v1/experiments/{new_id}", headers=ada)).status_code == 404
    events = (await client.get("/v1/audit-events", headers=ada)).json()["items"]
    actions = [e["action"] for e in events if e["target_id"] == tracker_id]
    assert actions == ["tracker.deleted", "tracker.prompts_added", "tracker.created"]


async def test_another_workspace_cannot_see_a_tracker(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    created = await client.post("/v1/trackers", headers=ada, json=_body(PROMPTS[:1]))
    tracker_id = created.json()["tracker"]["id"]
    assert (await client.get(f"/v1/trackers/{tracker_id}", headers=bob)).status_code == 404
    assert (await client.delete(f"/v1/trackers/{tracker_id}", headers=bob)).status_code == 404
    assert (await client.get("/v1/trackers", headers=bob)).json() == []


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ([], "at least 1"),
        ([{"prompt": "a?"}, {"prompt": "A? "}], "repeats prompt 1"),
        ([{"prompt": "x" * 4_001}], "at most 4000"),
        ([{"prompt": f"q{n}?"} for n in range(201)], "at most 200"),
        ([{"prompt": "   "}], "blank"),
    ],
)
async def test_bad_prompt_sets_are_422_with_the_reason(
    client: httpx.AsyncClient, prompts: list[dict[str, Any]], message: str
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    refused = await client.post("/v1/trackers", headers=ada, json=_body(prompts))
    assert refused.status_code == 422
    assert message in refused.text
    assert (await client.get("/v1/trackers", headers=ada)).json() == []


async def test_a_set_past_the_plan_is_refused_whole(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Each prompt alone would fit; together they do not: nothing is stored."""
    settings.billing.free = PlanLimits(iterations_per_month=35)
    ada = await register_and_login(client, "ada@example.com")
    refused = await client.post("/v1/trackers", headers=ada, json=_body(PROMPTS))
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["details"]["requested"] == 40
    assert (await client.get("/v1/trackers", headers=ada)).json() == []
    assert (await client.get("/v1/experiments", headers=ada)).json()["items"] == []


async def test_a_schedule_for_every_prompt_is_counted_against_the_plan(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(scheduled_experiments=2)
    ada = await register_and_login(client, "ada@example.com")
    body = _body(PROMPTS[:3], schedule={"cron": "0 9 * * 1"})
    refused = await client.post("/v1/trackers", headers=ada, json=body)
    assert refused.status_code == 402, refused.text
    details = refused.json()["error"]["details"]
    assert (details["limit"], details["requested"]) == ("scheduled_experiments", 3)
    assert (await client.get("/v1/experiments", headers=ada)).json()["items"] == []
    accepted = await client.post(
        "/v1/trackers", headers=ada, json=_body(PROMPTS[:2], schedule={"cron": "0 9 * * 1"})
    )
    assert accepted.status_code == 202, accepted.text


async def test_prompts_from_a_csv_body(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    csv_headers = {**ada, "Content-Type": "text/csv"}
    parsed = await client.post(
        "/v1/trackers/prompts/csv",
        headers=csv_headers,
        content=b'topic,prompt\nstartups,Best CRM?\n,"Is HubSpot, or Zoho, better?"\n',
    )
    assert parsed.status_code == 200, parsed.text
    assert parsed.json()["prompts"] == [
        {"prompt": "Best CRM?", "topic": "startups"},
        {"prompt": "Is HubSpot, or Zoho, better?", "topic": None},
    ]
    duplicate = await client.post(
        "/v1/trackers/prompts/csv", headers=csv_headers, content=b"prompt\nA?\nB?\na?\n"
    )
    assert duplicate.status_code == 422
    assert duplicate.json()["error"]["message"] == "line 4: the same prompt as line 2"
    no_header = await client.post(
        "/v1/trackers/prompts/csv", headers=csv_headers, content=b"Best CRM?\n"
    )
    assert no_header.status_code == 422 and "line 1" in no_header.json()["error"]["message"]
    latin1 = await client.post(
        "/v1/trackers/prompts/csv",
        headers=csv_headers,
        content="prompt\nCaf\xe9?\n".encode("latin-1"),
    )
    assert latin1.status_code == 422 and "UTF-8" in latin1.json()["error"]["message"]


async def test_figures_are_read_from_stored_metrics_while_prompts_run(
    client: httpx.AsyncClient,
) -> None:
    """Before any prompt has a complete run the tracker shows none, without error."""
    ada = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/trackers", headers=ada, json=_body(PROMPTS[:2]))
    tracker_id = created.json()["tracker"]["id"]
    first = await client.get(f"/v1/trackers/{tracker_id}", headers=ada)
    assert first.status_code == 200
    ids = created.json()["experiment_ids"]

    async def all_in() -> bool:
        detail = (await client.get(f"/v1/trackers/{tracker_id}", headers=ada)).json()
        return bool(detail["overall"]["prompts_with_results"] == len(ids))

    await wait_until(all_in, within=60, message=lambda: "the prompts did not finish")


async def test_a_trackers_figures_take_the_same_queries_whatever_its_size(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    """Figures come from stored round metrics in one query, never from answers: a tracker
    of 12 prompts reads as many rows' worth of statements as one of 2."""
    ada = await register_and_login(client, "ada@example.com")
    small = await client.post("/v1/trackers", headers=ada, json=_body(PROMPTS[:2], iterations=3))
    many = [{"prompt": f"Which CRM for team {n}?", "topic": f"t{n % 3}"} for n in range(12)]
    large = await client.post("/v1/trackers", headers=ada, json=_body(many, iterations=3))
    ids = [*small.json()["experiment_ids"], *large.json()["experiment_ids"]]
    for experiment_id in ids:
        await wait_finished(client, experiment_id, ada)
    engine = started_app.state.service.runtime.engine.sync_engine

    async def count(tracker_id: str) -> int:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = await client.get(f"/v1/trackers/{tracker_id}", headers=ada)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200
        assert response.json()["overall"]["prompts_with_results"] in (2, 12)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    counts = [
        await count(small.json()["tracker"]["id"]),
        await count(large.json()["tracker"]["id"]),
    ]
    assert counts[0] == counts[1] <= 8
