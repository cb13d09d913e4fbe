"""The tests of change between runs in the API: the latest run's in the experiment's
detail, every run's at ``/changes`` (paged), and two runs at ``/compare``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.db import transaction, utcnow
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import SYNTHETIC_NOTICE, ChangeTestsOut
from echo_ai.runs import service as run_service
from tests.analysis.test_significance import mixed_comparison
from tests.kit import app_runtime, register_and_login, wait_finished

BODY: dict[str, Any] = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
    },
    "providers": ["demo"],
    "iterations": 60,
    "demo_probabilities": {"HubSpot": 0.3},
}


async def run_again(app: FastAPI, experiment_id: str, probabilities: dict[str, float]) -> None:
    """The experiment's next run (as a schedule starts it) with these demo chances."""
    runtime = app_runtime(app)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
        experiment.demo_probabilities = probabilities
        await run_service.start_run(session, experiment, chunk_size=60, now=utcnow())
    await runtime.executor.run_experiment(uuid.UUID(experiment_id))


async def three_runs(client: httpx.AsyncClient, app: FastAPI) -> tuple[str, dict[str, str]]:
    """Runs 1 and 2 alike, run 3 with the target named in nearly every answer."""
    user = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/experiments", headers=user, json=BODY)
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, user)
    await run_again(app, experiment_id, {"HubSpot": 0.3})
    await run_again(app, experiment_id, {"HubSpot": 0.95})
    return experiment_id, user


def _test(tests: dict[str, Any], metric: str, provider: str | None = None) -> dict[str, Any]:
    found = [
        t
        for t in tests["tests"]
        if t["metric"] == metric and t["provider"] == provider and t["brand"] is None
    ]
    assert len(found) == 1
    return found[0]


async def test_detail_changes_and_compare_carry_the_tests(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    experiment_id, user = await three_runs(client, started_app)

    detail = await client.get(f"/v1/experiments/{experiment_id}", headers=user)
    assert detail.status_code == 200
    changes = detail.json()["changes"]
    assert changes["round"] == 3 and changes["complete"] and changes["synthetic"]
    assert changes["baseline_runs"] == 4 and changes["note"] is None
    previous, baseline = changes["vs_previous"], changes["vs_baseline"]
    assert previous["against"] == [2] and baseline["against"] == [2, 1]
    assert previous["method"] == "Benjamini–Hochberg" and previous["fdr_level"] == 0.05
    # Visibility, top-1, top-3, citation rate, Salesforce and Pipedrive: demo and pooled.
    assert previous["tests_run"] == 12 == len(previous["tests"])
    # Only the demo ran: every figure is synthetic, one synthetic family, labelled so.
    statement = (
        "synthetic (demo) figures: 12 tests, false discovery rate controlled at 5% "
        "(Benjamini–Hochberg)"
    )
    assert previous["statement"] == statement
    assert previous["synthetic"] and previous["notice"] == SYNTHETIC_NOTICE
    assert previous["families"] == [
        {
            "synthetic": True,
            "notice": SYNTHETIC_NOTICE,
            "tests_run": 12,
            "significant": previous["significant"],
            "statement": statement,
        }
    ]
    assert all(t["synthetic"] for t in previous["tests"]) and previous["pooled_note"] is None
    visibility = _test(previous, "visibility")
    assert visibility["significant"] and visibility["q_value"] <= 0.05
    assert visibility["p_value"] <= visibility["q_value"]
    assert visibility["change_points"] == pytest.approx(
        (visibility["after"]["value"] - visibility["before"]["value"]) * 100
    )
    assert visibility["change_points"] > 40 and visibility["note"] is None
    assert previous["significant"] == sum(t["significant"] for t in previous["tests"])
    pooled = _test(baseline, "visibility")["before"]
    assert pooled["denominator"] == 120  # runs 1 and 2 pooled

    page = await client.get(f"/v1/experiments/{experiment_id}/changes?limit=2", headers=user)
    assert page.status_code == 200
    body = page.json()
    assert [run["round"] for run in body["items"]] == [3, 2]
    assert body["items"][0] == changes
    assert body["items"][1]["vs_previous"]["against"] == [1]
    rest = await client.get(
        f"/v1/experiments/{experiment_id}/changes",
        params={"limit": 2, "cursor": body["next_cursor"]},
        headers=user,
    )
    [first] = rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert first["round"] == 1 and first["vs_previous"] is None and first["vs_baseline"] is None
    assert first["note"] == "not tested: no complete run among the previous 4"

    narrow = await client.get(
        f"/v1/experiments/{experiment_id}", params={"baseline_runs": 1}, headers=user
    )
    assert narrow.json()["changes"]["vs_baseline"]["against"] == [2]

    compared = await client.get(
        f"/v1/experiments/{experiment_id}/compare", params={"a": 1, "b": 3}, headers=user
    )
    assert compared.status_code == 200
    comparison = compared.json()
    assert (comparison["a"], comparison["b"], comparison["synthetic"]) == (1, 3, True)
    assert comparison["changes"]["against"] == [1] and comparison["changes"]["tests_run"] == 12
    assert _test(comparison["changes"], "visibility")["significant"]


async def test_bad_run_numbers_and_baselines_are_clear_errors(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    user = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/experiments", headers=user, json={**BODY, "iterations": 5})
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, user)

    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=user)).json()
    assert detail["changes"]["round"] == 1 and detail["changes"]["vs_previous"] is None

    missing = await client.get(
        f"/v1/experiments/{experiment_id}/compare", params={"a": 1, "b": 9}, headers=user
    )
    assert missing.status_code == 404 and "no run 9" in missing.text
    itself = await client.get(
        f"/v1/experiments/{experiment_id}/compare", params={"a": 1, "b": 1}, headers=user
    )
    assert itself.status_code == 400 and "two different runs" in itself.text
    for params in ({"a": 0, "b": 1}, {"a": "x", "b": 1}, {"a": 1}):
        response = await client.get(
            f"/v1/experiments/{experiment_id}/compare", params=params, headers=user
        )
        assert response.status_code == 422
    for value in (0, 21, "four"):
        response = await client.get(
            f"/v1/experiments/{experiment_id}/changes",
            params={"baseline_runs": value},
            headers=user,
        )
        assert response.status_code == 422
    other = await client.get(f"/v1/experiments/{uuid.uuid4()}/changes", headers=user)
    assert other.status_code == 404


def test_the_api_labels_each_synthetic_test_and_family() -> None:
    out = ChangeTestsOut.of(mixed_comparison(), [1]).model_dump(mode="json")
    assert out["synthetic"] and out["notice"] == SYNTHETIC_NOTICE
    assert [(f["synthetic"], f["notice"], f["tests_run"]) for f in out["families"]] == [
        (False, None, 1),
        (True, SYNTHETIC_NOTICE, 1),
    ]
    by_provider = {t["provider"]: t for t in out["tests"]}
    assert not by_provider["openai:gpt-4o-mini"]["synthetic"]
    demo = by_provider["demo:demo-synthetic-1"]
    assert demo["synthetic"] and demo["significant"] and demo["change_points"] == 70.0
    assert out["pooled_note"] == by_provider[None]["note"]
    assert by_provider[None]["p_value"] is None and not by_provider[None]["synthetic"]
    assert out["tests_run"] == 2 and out["significant"] == 1
