"""The experiments API over HTTP: the journey a client makes with an API key."""

from __future__ import annotations

import base64
import csv
import io
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.experiments import history
from echo_ai.experiments import service as experiment_service
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.kit import api_key, app_runtime, register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")

BODY: dict[str, Any] = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
    },
    "providers": ["demo"],
    "iterations": 20,
}


async def test_create_with_an_api_key_poll_and_read_metrics(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    key = await api_key(client, user, ["read", "write"])
    created = await client.post("/v1/experiments", headers=key, json=BODY)
    assert created.status_code == 202
    queued = created.json()
    assert queued["status"] == "queued" and queued["synthetic"] is True
    assert [p["provider"] for p in queued["providers"]] == ["demo"]

    done = await wait_finished(client, queued["id"], key)
    assert done["status"] == "completed"
    visibility = done["providers"][0]["metrics"]["visibility"]
    assert visibility["denominator"] == 20
    assert visibility["ci_low"] <= visibility["value"] <= visibility["ci_high"]
    assert done["combined"]["iterations"] == 20
    assert done["notice"].startswith("SYNTHETIC DATA")


async def test_iterations_are_paginated_with_mention_offsets(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/experiments", headers=user, json=BODY)
    url = f"/v1/experiments/{created.json()['id']}"
    await wait_finished(client, created.json()["id"], user)
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{url}/iterations", headers=user, params=params)).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(item["index"] for item in seen) == list(range(20))
    for item in seen:
        for mention in item["mentions"]:
            assert item["answer"][mention["start"] : mention["end"]] == mention["term"]
    bad = await client.get(f"{url}/iterations", headers=user, params={"cursor": "garbage!"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_listing_is_scoped_filtered_and_paginated(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    ids = [
        (await client.post("/v1/experiments", headers=ada, json=BODY)).json()["id"]
        for _ in range(3)
    ]
    await client.post("/v1/experiments", headers=bob, json=BODY)
    for experiment_id in ids:
        await wait_finished(client, experiment_id, ada)
    first = (await client.get("/v1/experiments", headers=ada, params={"limit": 2})).json()
    second = (
        await client.get(
            "/v1/experiments", headers=ada, params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert second["next_cursor"] is None
    listed = [item["id"] for item in first["items"] + second["items"]]
    assert listed == list(reversed(ids))  # newest first, none of Bob's
    running = await client.get("/v1/experiments", headers=ada, params={"status": "running"})
    assert running.json()["items"] == []


async def test_other_workspaces_get_404_and_read_only_keys_cannot_write(
    client: httpx.AsyncClient,
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=ada, json=BODY)).json()["id"]
    await wait_finished(client, experiment_id, ada)
    for path in ("", "/iterations", "/export.csv"):
        response = await client.get(f"/v1/experiments/{experiment_id}{path}", headers=bob)
        assert response.status_code == 404, path
    assert (await client.delete(f"/v1/experiments/{experiment_id}", headers=bob)).status_code == 404

    reader = await api_key(client, ada, ["read"])
    denied = await client.post("/v1/experiments", headers=reader, json=BODY)
    assert denied.status_code == 403
    assert (
        await client.delete(f"/v1/experiments/{experiment_id}", headers=reader)
    ).status_code == 403
    assert (await client.get(f"/v1/experiments/{experiment_id}", headers=reader)).status_code == 200


async def test_export_and_delete(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    await wait_finished(client, experiment_id, user)
    exported = await client.get(f"/v1/experiments/{experiment_id}/export.csv", headers=user)
    assert exported.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == 20
    assert (
        await client.delete(f"/v1/experiments/{experiment_id}", headers=user)
    ).status_code == 204
    assert (await client.get(f"/v1/experiments/{experiment_id}", headers=user)).status_code == 404


async def test_invalid_input_and_missing_keys_are_clear(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.vendor_environment.pop("OPENAI_API_KEY", None)
    user = await register_and_login(client, "ada@example.com")
    invalid = await client.post("/v1/experiments", headers=user, json={**BODY, "iterations": 0})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"]
    missing = await client.post(
        "/v1/experiments", headers=user, json={**BODY, "providers": ["openai:gpt-4o-mini"]}
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "code": "provider_not_configured",
        "message": "OPENAI_API_KEY is not set (needed for openai:gpt-4o-mini)",
        "details": None,
    }


async def test_detail_runs_a_bounded_number_of_queries(
    client: httpx.AsyncClient,
    started_app: FastAPI,
    fake_llm: FakeLLMServer,
    settings: Settings,
) -> None:
    for vendor, path in (("OPENAI", "/v1"), ("ANTHROPIC", "")):
        settings.vendor_environment[f"{vendor}_API_KEY"] = "sk-test"
        settings.vendor_environment[f"{vendor}_BASE_URL"] = fake_llm.base_url + path
    user = await register_and_login(client, "ada@example.com")
    one = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    three = (
        await client.post(
            "/v1/experiments",
            headers=user,
            json={**BODY, "providers": ["demo", "openai:gpt-4o-mini", "anthropic"]},
        )
    ).json()["id"]
    for experiment_id in (one, three):
        await wait_finished(client, experiment_id, user)

    engine = started_app.state.service.runtime.engine.sync_engine

    async def count(experiment_id: str) -> int:
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = await client.get(f"/v1/experiments/{experiment_id}", headers=user)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))])

    detail = (await client.get(f"/v1/experiments/{three}", headers=user)).json()
    assert [p["status"] for p in detail["providers"]] == ["completed"] * 3
    counts = [await count(one), await count(three)]
    assert counts[0] == counts[1] <= 8


def _cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


async def test_forged_cursors_are_400_not_500(client: httpx.AsyncClient) -> None:
    """Regression (found by the schemathesis run's follow-up): a cursor's time that is
    naive or cannot be expressed in UTC, or an iteration index past the database's
    integer, reached the query and failed there with a 500."""
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    some_id = str(uuid.uuid4())
    for created_at in (
        "2020-01-01T00:00:00",
        "9999-12-31T23:59:59.999999-14:00",
        "0001-01-01T00:00:00+14:00",
    ):
        response = await client.get(
            "/v1/experiments", headers=user, params={"cursor": _cursor(created_at, some_id)}
        )
        assert response.status_code == 400, (created_at, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor"
    for index in ("9223372036854775808", "10" + "0" * 30, "-1"):
        response = await client.get(
            f"/v1/experiments/{experiment_id}/iterations",
            headers=user,
            params={"cursor": _cursor(some_id, index)},
        )
        assert response.status_code == 400, (index, response.text)
        assert response.json()["error"]["code"] == "invalid_cursor"
    valid = _cursor("2020-01-01T00:00:00+02:00", some_id)
    listed = await client.get("/v1/experiments", headers=user, params={"cursor": valid})
    assert listed.status_code == 200


async def test_an_iterations_cursor_of_another_experiment_is_400(
    client: httpx.AsyncClient,
) -> None:
    user = await register_and_login(client, "ada@example.com")
    first, second = [
        (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
        for _ in range(2)
    ]
    for experiment_id in (first, second):
        await wait_finished(client, experiment_id, user)
    page = await client.get(
        f"/v1/experiments/{first}/iterations", headers=user, params={"limit": 5}
    )
    cursor = page.json()["next_cursor"]
    assert cursor is not None
    follow = await client.get(
        f"/v1/experiments/{first}/iterations", headers=user, params={"cursor": cursor}
    )
    assert follow.status_code == 200 and follow.json()["items"][0]["index"] == 5
    elsewhere = await client.get(
        f"/v1/experiments/{second}/iterations", headers=user, params={"cursor": cursor}
    )
    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"]["code"] == "invalid_cursor"


async def test_an_adaptive_experiment_reports_where_each_provider_stopped(
    client: httpx.AsyncClient,
) -> None:
    user = await register_and_login(client, "ada@example.com")
    body = {
        **BODY,
        "providers": ["demo", "demo:b"],
        "iterations": 800,
        "precision": {"half_width": 0.06, "metric": "top3"},
        "demo_probabilities": {"HubSpot": 0.1},
    }
    created = await client.post("/v1/experiments", headers=user, json=body)
    assert created.status_code == 202, created.text
    assert created.json()["precision"] == {"metric": "top3", "half_width": 0.06, "min_answers": 30}
    detail = await wait_finished(client, created.json()["id"], user)
    assert detail["status"] == "completed"
    for batch in detail["providers"]:
        adaptive = batch["adaptive"]
        top3 = batch["metrics"]["top3"]
        assert adaptive["metric"] == "top3" and adaptive["max_answers"] == 800
        assert adaptive["answers"] == top3["denominator"] == batch["succeeded"]
        assert adaptive["stopped_early"] is (batch["iterations_requested"] < 800)
        assert batch["iterations_requested"] == batch["stored"]
        if adaptive["stopped_early"]:
            assert adaptive["reached"] and (top3["ci_high"] - top3["ci_low"]) / 2 <= 0.06
            assert adaptive["summary"].startswith("top-3 rate ±6 points: reached after")
    fixed = await client.post("/v1/experiments", headers=user, json=BODY)
    assert fixed.json()["precision"] is None
    assert fixed.json()["providers"][0]["adaptive"] is None


@pytest.mark.parametrize(
    ("precision", "iterations", "needle"),
    [
        ({"half_width": 0.3}, 100, "less than or equal to 0.25"),
        ({"half_width": 0.0005}, 100, "greater than or equal to 0.001"),
        ({"half_width": 0.05, "min_answers": 10}, 100, "greater than or equal to 30"),
        ({"half_width": 0.05, "min_answers": 200}, 100, "must be at least its min_answers"),
        ({"half_width": 0.05, "metric": "mention_rate"}, 100, "'visibility', 'top1'"),
        ({"half_width": 0.05, "rounds": 5}, 100, "Extra inputs are not permitted"),
        ({"metric": "visibility"}, 100, "Field required"),
    ],
)
async def test_a_precision_out_of_range_is_422_with_the_reason(
    client: httpx.AsyncClient, precision: dict[str, Any], iterations: int, needle: str
) -> None:
    user = await register_and_login(client, "ada@example.com")
    refused = await client.post(
        "/v1/experiments",
        headers=user,
        json={**BODY, "iterations": iterations, "precision": precision},
    )
    assert refused.status_code == 422
    assert needle in refused.text


async def test_a_persona_is_sent_before_the_prompt_as_each_vendor_allows(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    for vendor, path in (("OPENAI", "/v1"), ("ANTHROPIC", "")):
        settings.vendor_environment[f"{vendor}_API_KEY"] = "sk-test"
        settings.vendor_environment[f"{vendor}_BASE_URL"] = fake_llm.base_url + path
    user = await register_and_login(client, "ada@example.com")
    persona = "I run a 10-person design agency in Lyon and we use Macs."
    created = await client.post(
        "/v1/experiments",
        headers=user,
        json={
            **BODY,
            "persona": f"  {persona}\n",
            "providers": ["openai:gpt-4o-mini", "anthropic"],
            "iterations": 3,
        },
    )
    assert created.status_code == 202, created.text
    assert created.json()["persona"] == persona  # trimmed
    detail = await wait_finished(client, created.json()["id"], user)
    assert detail["status"] == "completed"
    chat = [body for path, body in fake_llm.requests if path.endswith("/chat/completions")]
    messages = [body for path, body in fake_llm.requests if path.endswith("/messages")]
    assert len(chat) == len(messages) == 3
    for body in chat:
        assert body["messages"] == [
            {"role": "system", "content": persona},
            {"role": "user", "content": BODY["prompt"]},
        ]
    for body in messages:
        assert body["system"] == persona
        assert body["messages"][0] == {"role": "user", "content": BODY["prompt"]}

    blank = await client.post("/v1/experiments", headers=user, json={**BODY, "persona": "  "})
    assert blank.json()["persona"] is None
    long = await client.post("/v1/experiments", headers=user, json={**BODY, "persona": "x" * 1001})
    assert long.status_code == 422 and "persona" in long.text


async def test_two_personas_are_compared_side_by_side_with_tested_changes(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    user = await register_and_login(client, "ada@example.com")
    agency = {
        **BODY,
        "name": "As an agency",
        "persona": "I run a design agency.",
        "iterations": 60,
        "demo_probabilities": {"HubSpot": 0.1},
    }
    bank = {
        **BODY,
        "name": "As a bank",
        "persona": "I work at a bank.",
        "user_location": {"country": "FR", "city": "Paris"},
        "iterations": 60,
        "demo_probabilities": {"HubSpot": 0.9},
    }
    a = (await client.post("/v1/experiments", headers=user, json=agency)).json()["id"]
    b = (await client.post("/v1/experiments", headers=user, json=bank)).json()["id"]
    for experiment_id in (a, b):
        await wait_finished(client, experiment_id, user)

    response = await client.get(f"/v1/experiments/{a}/versus/{b}", headers=user)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["a"]["persona"], body["b"]["persona"]) == (agency["persona"], bank["persona"])
    assert body["b"]["user_location"]["city"] == "Paris"
    assert body["differences"] == [
        "persona: I run a design agency. → I work at a bank.",
        "place: none → Paris, FR",
    ]
    assert body["synthetic"] is True
    tests = {(t["provider"], t["metric"], t["brand"]): t for t in body["changes"]["tests"]}
    pooled = tests[(None, "visibility", None)]
    assert pooled["before"]["denominator"] == pooled["after"]["denominator"] == 60
    assert pooled["significant"] is True  # 10% against 90% of 60 answers each
    assert pooled["after"]["value"] > pooled["before"]["value"]

    other_target = {**BODY, "brands": {"target": {"name": "Salesforce"}}}
    c = (await client.post("/v1/experiments", headers=user, json=other_target)).json()["id"]
    await wait_finished(client, c, user)
    async with transaction(app_runtime(started_app).session_factory) as session:
        offered = await history.comparable_experiments(
            session, await experiment_service.get(session, uuid.UUID(a))
        )
    assert [(str(e.id), e.persona) for e in offered] == [(b, bank["persona"])]  # not c
    refused = await client.get(f"/v1/experiments/{a}/versus/{c}", headers=user)
    assert refused.status_code == 400
    assert "different target brands (HubSpot, Salesforce)" in refused.text
    itself = await client.get(f"/v1/experiments/{a}/versus/{a}", headers=user)
    assert itself.status_code == 400 and "is given twice" in itself.text
    unknown = await client.get(f"/v1/experiments/{a}/versus/{uuid.uuid4()}", headers=user)
    assert unknown.status_code == 404


async def test_several_personas_side_by_side_with_every_test_adjusted_together(
    client: httpx.AsyncClient,
) -> None:
    user = await register_and_login(client, "ada@example.com")
    ids = []
    for persona, rate in (("I run a design agency.", 0.1), (None, 0.1), ("I work at a bank.", 0.9)):
        body = {**BODY, "name": f"As {persona}", "persona": persona, "iterations": 60}
        body["demo_probabilities"] = {"HubSpot": rate}
        ids.append((await client.post("/v1/experiments", headers=user, json=body)).json()["id"])
        await wait_finished(client, ids[-1], user)

    response = await client.get(
        "/v1/experiments/side-by-side", headers=user, params=[("id", i) for i in ids]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["id"] for e in body["experiments"]] == ids
    assert body["differences"] == [
        [],
        ["persona: I run a design agency. → none"],
        ["persona: I run a design agency. → I work at a bank."],
    ]
    assert body["synthetic"] is True and "across 2 comparisons" in body["statement"]
    rows = {(r["provider"], r["metric"], r["brand"]): r for r in body["rows"]}
    pooled = rows[(None, "visibility", None)]
    a, b, c = pooled["cells"]
    assert a["versus_a"] is None and a["rate"]["denominator"] == 60
    assert b["versus_a"]["before"] == a["rate"] and b["versus_a"]["after"] == b["rate"]
    assert c["versus_a"]["significant"] is True  # 10% against 90% of 60 answers each
    assert c["versus_a"]["change_points"] > 0
    assert body["significant"] == sum(
        cell["versus_a"]["significant"] for r in body["rows"] for cell in r["cells"][1:]
    )
    # Each difference is the pair's own test (same p-value); only its q-value is the
    # table's, adjusted for the tests of both comparisons.
    pair = (await client.get(f"/v1/experiments/{ids[0]}/versus/{ids[2]}", headers=user)).json()
    pair_p = {
        (t["provider"], t["metric"], t["brand"]): t["p_value"] for t in pair["changes"]["tests"]
    }
    assert {key: row["cells"][2]["versus_a"]["p_value"] for key, row in rows.items()} == pair_p

    one = await client.get("/v1/experiments/side-by-side", headers=user, params={"id": ids[0]})
    assert one.status_code == 422
    twice = await client.get(
        "/v1/experiments/side-by-side", headers=user, params=[("id", ids[0]), ("id", ids[0])]
    )
    assert twice.status_code == 400 and "is given twice" in twice.text
    many = [("id", str(uuid.uuid4())) for _ in range(9)]
    assert (
        await client.get("/v1/experiments/side-by-side", headers=user, params=many)
    ).status_code == 422
    unknown = await client.get(
        "/v1/experiments/side-by-side",
        headers=user,
        params=[("id", ids[0]), ("id", str(uuid.uuid4()))],
    )
    assert unknown.status_code == 404
    other = {**BODY, "brands": {"target": {"name": "Salesforce"}}}
    d = (await client.post("/v1/experiments", headers=user, json=other)).json()["id"]
    await wait_finished(client, d, user)
    refused = await client.get(
        "/v1/experiments/side-by-side", headers=user, params=[("id", ids[0]), ("id", d)]
    )
    assert refused.status_code == 400 and "different target brands" in refused.text


async def test_a_comparison_with_an_experiment_without_answers_says_so(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, settings: Settings
) -> None:
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = fake_llm.base_url + "/v1"
    fake_llm.config.quota_exhausted = True  # every call refused: no complete answer
    user = await register_and_login(client, "ada@example.com")
    done = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    await wait_finished(client, done, user)
    empty = (
        await client.post(
            "/v1/experiments", headers=user, json={**BODY, "providers": ["openai:gpt-4o-mini"]}
        )
    ).json()["id"]
    detail = await wait_finished(client, empty, user)
    assert detail["providers"][0]["succeeded"] == 0
    refused = await client.get(f"/v1/experiments/{done}/versus/{empty}", headers=user)
    assert refused.status_code == 400
    assert "has no complete answer in its latest run (run 1, failed)" in refused.text
    zero_width = await client.post(
        "/v1/experiments", headers=user, json={**BODY, "persona": "\u200b \u200b"}
    )
    assert zero_width.json()["persona"] is None
