"""Schedules and brand profiles of experiments over HTTP, and the in-process scheduler."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import Experiment
from echo_ai.schedules.scheduler import Scheduler
from tests.brands.test_router import PROFILE
from tests.experiments.test_router import BODY
from tests.kit import app_runtime, personal_viewer, register_and_login, wait_finished, wait_until

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The service's scheduler ticks often here, so a due run starts within the test."""
    settings.worker.beat_interval_seconds = 0.5
    return settings


SCHEDULED: dict[str, Any] = {
    **BODY,
    "iterations": 5,
    "schedule": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"},
}


def _aware(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_schedule_lifecycle(client: httpx.AsyncClient, started_app: FastAPI) -> None:
    ada = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/experiments", headers=ada, json=SCHEDULED)
    assert created.status_code == 202, created.text
    experiment = created.json()
    url = f"/v1/experiments/{experiment['id']}"
    schedule = experiment["schedule"]
    assert schedule["cron"] == "0 9 * * 1" and schedule["paused"] is False
    next_run = _aware(schedule["next_run_at"])
    assert next_run > datetime.now(UTC) and next_run.weekday() == 0
    assert next_run.hour in (7, 8)  # 9:00 in Paris
    assert experiment["runs"] == 1  # it also ran at once
    await wait_finished(client, experiment["id"], ada)

    paused = await client.post(f"{url}/schedule/pause", headers=ada)
    assert paused.status_code == 200
    assert paused.json()["paused"] is True and paused.json()["next_run_at"] is None
    resumed = (await client.post(f"{url}/schedule/resume", headers=ada)).json()
    assert resumed["paused"] is False and _aware(resumed["next_run_at"]) == next_run

    changed = await client.put(f"{url}/schedule", headers=ada, json={"cron": "@daily"})
    assert changed.status_code == 200 and changed.json()["timezone"] == "UTC"
    assert (await client.get(url, headers=ada)).json()["schedule"]["cron"] == "@daily"
    listed = await client.get("/v1/experiments?scheduled=true", headers=ada)
    assert [item["id"] for item in listed.json()["items"]] == [experiment["id"]]

    assert (await client.delete(f"{url}/schedule", headers=ada)).status_code == 204
    assert (await client.get(url, headers=ada)).json()["schedule"] is None
    assert (await client.get("/v1/experiments?scheduled=true", headers=ada)).json()["items"] == []
    missing = await client.post(f"{url}/schedule/pause", headers=ada)
    assert missing.status_code == 409 and "no schedule" in missing.json()["error"]["message"]

    async with transaction(app_runtime(started_app).session_factory) as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target_id == experiment["id"])
                .order_by(AuditEvent.created_at)
            )
        )
    assert actions == [
        "experiment.created",
        "experiment.schedule_paused",
        "experiment.schedule_resumed",
        "experiment.schedule_set",
        "experiment.schedule_removed",
    ]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "every monday"}, "five fields"),
        ({"cron": "*/2 * * * *"}, "at least 5 minutes apart"),
        ({"cron": "@daily", "timezone": "Nowhere/City"}, "unknown time zone"),
    ],
)
async def test_bad_schedules_are_422_with_the_reason(
    client: httpx.AsyncClient, schedule: dict[str, str], message: str
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    response = await client.post(
        "/v1/experiments", headers=ada, json={**BODY, "schedule": schedule}
    )
    assert response.status_code == 422 and message in response.text
    assert (await client.get("/v1/experiments", headers=ada)).json()["items"] == []


async def test_only_writers_of_the_workspace_change_schedules(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment = (await client.post("/v1/experiments", headers=ada, json=SCHEDULED)).json()
    url = f"/v1/experiments/{experiment['id']}/schedule"
    viewer = await personal_viewer(client, app_runtime(started_app), "ada@example.com")
    outsider = await register_and_login(client, "eve@example.com")
    calls = [("put", url, {"cron": "@daily"}), ("post", f"{url}/pause", None)]
    calls += [("post", f"{url}/resume", None), ("delete", url, None)]
    for method, target, body in calls:
        for headers, expected in ((viewer, 403), (outsider, 404)):
            response = await client.request(method, target, headers=headers, json=body)
            assert response.status_code == expected, (method, target, response.text)
    await wait_finished(client, experiment["id"], ada)
    assert (await client.get(f"/v1/experiments/{experiment['id']}", headers=ada)).json()[
        "schedule"
    ]["paused"] is False


async def test_experiments_from_a_stored_brand_profile(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    profile = (await client.post("/v1/brands", headers=ada, json=PROFILE)).json()
    body = {k: v for k, v in BODY.items() if k != "brands"} | {"brand_profile_id": profile["id"]}
    created = await client.post("/v1/experiments", headers=ada, json=body)
    assert created.status_code == 202, created.text
    experiment = created.json()
    assert experiment["brand_profile_id"] == profile["id"]
    assert experiment["brands"] == profile["brands"]
    # A later edit of the profile leaves the experiment as it was.
    await client.put(
        f"/v1/brands/{profile['id']}", headers=ada, json={**PROFILE, "competitors": []}
    )
    done = await wait_finished(client, experiment["id"], ada)
    assert [c["name"] for c in done["brands"]["competitors"]] == ["Salesforce", "Zoho CRM"]

    both = await client.post(
        "/v1/experiments", headers=ada, json={**body, "brands": BODY["brands"]}
    )
    neither = await client.post("/v1/experiments", headers=ada, json={"prompt": "best crm?"})
    for response in (both, neither):
        assert response.status_code == 422 and "either brands or brand_profile_id" in response.text
    eve = await register_and_login(client, "eve@example.com")
    foreign = await client.post("/v1/experiments", headers=eve, json=body)
    assert foreign.status_code == 404 and "brand profile" in foreign.json()["error"]["message"]


async def test_the_service_runs_due_schedules_itself(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    state = started_app.state.service
    assert state.scheduler_task is not None and not state.scheduler_task.done()
    ada = await register_and_login(client, "ada@example.com")
    experiment = (await client.post("/v1/experiments", headers=ada, json=SCHEDULED)).json()
    url = f"/v1/experiments/{experiment['id']}"
    await wait_finished(client, experiment["id"], ada)
    async with transaction(state.runtime.session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id == uuid.UUID(experiment["id"]))
            .values(next_run_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    detail: dict[str, Any] = {}

    async def ran_again() -> bool:
        nonlocal detail
        detail = (await client.get(url, headers=ada)).json()
        return bool(detail["runs"] == 2 and detail["status"] == "completed")

    await wait_until(ran_again, message=lambda: f"the scheduled run did not happen: {detail}")
    assert [batch["round"] for batch in detail["providers"]] == [2]
    assert [batch["round"] for batch in detail["history"]] == [1]
    assert _aware(detail["schedule"]["next_run_at"]) > datetime.now(UTC)


@pytest.mark.long
async def test_a_long_history_is_paged(client: httpx.AsyncClient, started_app: FastAPI) -> None:
    runtime = app_runtime(started_app)
    ada = await register_and_login(client, "ada@example.com")
    body = {**SCHEDULED, "providers": ["demo", "demo:other"], "iterations": 2}
    experiment = (await client.post("/v1/experiments", headers=ada, json=body)).json()
    url = f"/v1/experiments/{experiment['id']}"
    await wait_finished(client, experiment["id"], ada)
    for _ in range(24):  # 24 more runs, as the scheduler would start them
        async with transaction(runtime.session_factory) as session:
            await session.execute(
                update(Experiment)
                .where(Experiment.id == uuid.UUID(experiment["id"]))
                .values(next_run_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        await Scheduler.of(runtime).tick()
        # The service's own scheduler may have started this run first, in the background:
        # the next one is only due once it has ended.
        await wait_finished(client, experiment["id"], ada)

    detail = (await client.get(url, headers=ada)).json()
    assert detail["runs"] == 25 and detail["status"] == "completed"
    assert {batch["round"] for batch in detail["providers"]} == {25}
    assert [batch["round"] for batch in detail["history"]][::2] == list(range(24, 5, -1))
    listed = (await client.get("/v1/experiments", headers=ada)).json()["items"]
    assert [batch["round"] for batch in listed[0]["providers"]] == [25, 25]

    rounds: list[int] = []
    cursor = None
    while True:
        page = await client.get(
            f"{url}/runs",
            headers=ada,
            params={"limit": 10, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200
        rounds += [batch["round"] for batch in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert rounds == [r for r in range(25, 0, -1) for _ in range(2)]
    assert all(batch["metrics"] is not None for batch in page.json()["items"])
    bad = await client.get(f"{url}/runs", headers=ada, params={"cursor": "nonsense"})
    assert bad.status_code == 400
    eve = await register_and_login(client, "eve@example.com")
    assert (await client.get(f"{url}/runs", headers=eve)).status_code == 404
