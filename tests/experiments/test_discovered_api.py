"""Who else gets recommended, over HTTP: the untracked names of a run, and adding one as a
competitor (a re-score, no provider called)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.analysis.brands import BrandSet
from echo_ai.db import transaction, utcnow
from echo_ai.experiments import service as experiment_service
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, Iteration
from tests.experiments.test_router import BODY
from tests.experiments.test_significance_api import run_again
from tests.kit import api_key, app_runtime, register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")


async def test_discovered_names_then_add_one_as_competitor(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    before = await wait_finished(client, experiment_id, user)

    response = await client.get(f"/v1/experiments/{experiment_id}/discovered", headers=user)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["synthetic"] is True and found["examined"] is True
    assert found["run"] == 1 and found["answers"] == 20 and found["min_answers"] == 2
    names = {item["name"]: item for item in found["names"]}
    assert "Attio" in names and set(names) <= {"Attio", "Insightly", "Keap"}
    attio = names["Attio"]
    rate = attio["mention_rate"]
    assert rate["denominator"] == 20 and rate["numerator"] >= 2
    assert rate["ci_low"] < rate["value"] < rate["ci_high"]
    assert list(attio["per_provider"]) == found["providers"]
    (only,) = attio["per_provider"].values()
    assert only["numerator"] == rate["numerator"]

    added = await client.post(
        f"/v1/experiments/{experiment_id}/competitors", headers=user, json={"name": "Attio"}
    )
    assert added.status_code == 200, added.text
    detail = added.json()
    assert detail["brands_revision"] == before["brands_revision"] + 1
    (batch,) = detail["providers"]
    # Tracked, every mention counts; discovery keeps only names that read as such.
    assert batch["metrics"]["mention_rates"]["Attio"]["numerator"] >= rate["numerator"]
    assert batch["stored"] == before["providers"][0]["stored"]  # no new call
    again = (await client.get(f"/v1/experiments/{experiment_id}/discovered", headers=user)).json()
    assert "Attio" not in {item["name"] for item in again["names"]}

    twice = await client.post(
        f"/v1/experiments/{experiment_id}/competitors", headers=user, json={"name": "attio"}
    )
    assert twice.status_code == 409
    assert "already tracked" in twice.json()["error"]["message"]


async def test_discovered_refusals(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    await wait_finished(client, experiment_id, user)
    base = f"/v1/experiments/{experiment_id}"

    missing_run = await client.get(f"{base}/discovered?run=7", headers=user)
    assert missing_run.status_code == 404
    assert "run 7" in missing_run.json()["error"]["message"]
    assert (await client.get(f"{base}/discovered?run=0", headers=user)).status_code == 422
    unknown = await client.get(f"/v1/experiments/{uuid.uuid4()}/discovered", headers=user)
    assert unknown.status_code == 404

    blank = await client.post(f"{base}/competitors", headers=user, json={"name": ""})
    assert blank.status_code == 422
    extra = await client.post(f"{base}/competitors", headers=user, json={"name": "X", "n": 1})
    assert extra.status_code == 422
    short = await client.post(f"{base}/competitors", headers=user, json={"name": "Ab"})
    assert short.status_code == 400
    assert "cannot be added" in short.json()["error"]["message"]

    reader = await api_key(client, user, ["read"])
    assert (await client.get(f"{base}/discovered", headers=reader)).status_code == 200
    refused = await client.post(f"{base}/competitors", headers=reader, json={"name": "Keap"})
    assert refused.status_code == 403

    other = await register_and_login(client, "eve@example.com")
    assert (await client.get(f"{base}/discovered", headers=other)).status_code == 404
    hidden = await client.post(f"{base}/competitors", headers=other, json={"name": "Keap"})
    assert hidden.status_code == 404


async def test_openapi_documents_the_discovery_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    listed = schema["paths"]["/v1/experiments/{experiment_id}/discovered"]["get"]
    assert listed["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "DiscoveredOut"
    )
    assert "404" in listed["responses"]
    added = schema["paths"]["/v1/experiments/{experiment_id}/competitors"]["post"]
    assert {"200", "409", "422"} <= set(added["responses"])
    assert "DiscoveredNameOut" in schema["components"]["schemas"]


async def _finished(client: httpx.AsyncClient, user: dict[str, str]) -> str:
    experiment_id = str(
        (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    )
    await wait_finished(client, experiment_id, user)
    return experiment_id


async def test_answers_scored_before_discovery_say_so_until_rescored(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, user)
    factory = app_runtime(started_app).session_factory
    async with transaction(factory) as session:  # as stored before names were looked for
        iterations = (
            await session.scalars(
                select(Iteration)
                .join(BatchRun)
                .where(BatchRun.experiment_id == uuid.UUID(experiment_id))
            )
        ).all()
        for iteration in iterations:
            old = dict(iteration.extraction or {})
            old.pop("candidates", None)
            iteration.extraction = old
        experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
        for batch in experiment.batch_runs:
            await run_service.store_metrics(
                session, batch, BrandSet.model_validate(experiment.brands)
            )
        await run_service.store_round_metrics(session, experiment.id, 1)
    url = f"/v1/experiments/{experiment_id}/discovered"
    before = (await client.get(url, headers=user)).json()
    assert (before["examined"], before["names"], before["answers"]) == (False, [], 0)

    assert (await client.post(f"/v1/experiments/{experiment_id}/rescore", headers=user)).is_success
    after = (await client.get(url, headers=user)).json()
    assert after["examined"] is True and after["answers"] == 20
    assert "Attio" in {item["name"] for item in after["names"]}


async def test_each_run_has_its_own_names(client: httpx.AsyncClient, started_app: FastAPI) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, user)
    await run_again(started_app, experiment_id, {"HubSpot": 0.5})
    await wait_finished(client, experiment_id, user)
    url = f"/v1/experiments/{experiment_id}/discovered"
    first = (await client.get(f"{url}?run=1", headers=user)).json()
    second = (await client.get(f"{url}?run=2", headers=user)).json()
    assert (first["run"], second["run"]) == (1, 2)
    assert first["answers"] == second["answers"] == 20
    assert (await client.get(url, headers=user)).json() == second  # the latest by default
    assert (await client.get(f"{url}?run=3", headers=user)).status_code == 404

    added = await client.post(
        f"/v1/experiments/{experiment_id}/competitors", headers=user, json={"name": "Insightly"}
    )
    assert added.status_code == 200, added.text
    for run in (1, 2):  # every run's answers were scored again
        names = (await client.get(f"{url}?run={run}", headers=user)).json()["names"]
        assert "Insightly" not in {item["name"] for item in names}


async def test_redacted_answers_keep_their_names_but_refuse_a_new_competitor(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, user)
    url = f"/v1/experiments/{experiment_id}/discovered"
    before = (await client.get(url, headers=user)).json()
    factory = app_runtime(started_app).session_factory
    async with transaction(factory) as session:  # what the retention task does
        await session.execute(
            update(Iteration)
            .where(
                Iteration.batch_run_id.in_(
                    select(BatchRun.id).where(BatchRun.experiment_id == uuid.UUID(experiment_id))
                )
            )
            .values(answer=None, redacted_at=utcnow())
        )
    assert (await client.get(url, headers=user)).json() == before
    refused = await client.post(
        f"/v1/experiments/{experiment_id}/competitors", headers=user, json={"name": "Attio"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "answers_redacted"
    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=user)).json()
    assert [c["name"] for c in detail["brands"]["competitors"]] == ["Salesforce", "Pipedrive"]
