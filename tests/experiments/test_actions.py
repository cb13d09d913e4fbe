"""Actions on an experiment over HTTP: cancel, re-run, re-score and JSON export."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Sequence

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import BrandMatcher, Extraction
from echo_ai.db import transaction
from echo_ai.execution.executor import Executor
from echo_ai.execution.runner import CANCEL_CHECK_SECONDS
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.providers.base import Citation, Completion, CompletionRequest
from echo_ai.runs.models import BatchRun
from tests.experiments.test_router import BODY
from tests.factories import experiment_input
from tests.kit import (
    ManualClock,
    api_key,
    app_runtime,
    personal_viewer,
    register_and_login,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("backend")


class _SlowDemo:
    """Stands in for the demo provider: each answer takes a while (and waits for ``gate``,
    when one is set); counts calls."""

    name = "demo"

    def __init__(self, delay: float, gate: asyncio.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay)  # the vendor's latency
        return Completion(
            text=f"1. HubSpot\n2. Salesforce (answer {request.seed})",
            model_version="slow-1",
            input_tokens=10,
            output_tokens=20,
            latency_ms=self.delay * 1000,
        )

    async def aclose(self) -> None:
        return None


class _WatchedExecutor:
    """The app's in-process executor, counting the experiment runs that have ended.

    With ``reaches_runner=False`` it stands for an executor whose runners live in another
    process: a cancellation reaches them only through the database.
    """

    def __init__(self, inner: Executor, *, reaches_runner: bool = True) -> None:
        self.inner = inner
        self.reaches_runner = reaches_runner
        self.ended = 0

    async def run_experiment(self, experiment_id: uuid.UUID) -> None:
        try:
            await self.inner.run_experiment(experiment_id)
        finally:
            self.ended += 1

    async def run_batches(self, batches: Sequence[BatchRun]) -> None:
        await self.inner.run_batches(batches)

    async def cancel(self, batch_run_ids: list[uuid.UUID]) -> None:
        if self.reaches_runner:
            await self.inner.cancel(batch_run_ids)


def _watch(runtime: Runtime, *, reaches_runner: bool = True) -> _WatchedExecutor:
    watched = _WatchedExecutor(runtime.executor, reaches_runner=reaches_runner)
    runtime.executor = watched
    return watched


async def _stored(client: httpx.AsyncClient, headers: dict[str, str], experiment_id: str) -> int:
    response = await client.get(f"/v1/experiments/{experiment_id}/export.json", headers=headers)
    assert response.status_code == 200
    return len(response.json()["items"])


async def test_cancel_stops_a_long_run_and_keeps_what_it_stored(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    vendor = _SlowDemo(delay=0.02, gate=asyncio.Event())
    runtime.providers.register(vendor)
    runtime.runner.limits.concurrency = 4
    executor = _watch(runtime)
    user = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/experiments", headers=user, json={**BODY, "iterations": 2000})
    experiment_id = created.json()["id"]
    await wait_until(lambda: vendor.calls >= 4)  # every slot's call waits at the gate

    cancelled = await client.post(f"/v1/experiments/{experiment_id}/cancel", headers=user)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert [p["status"] for p in cancelled.json()["providers"]] == ["cancelled"]
    assert vendor.gate is not None
    vendor.gate.set()

    await wait_until(lambda: executor.ended == 1)  # calls in flight at the cancel finish...
    calls = vendor.calls
    stored = await _stored(client, user, experiment_id)  # ...and are stored
    assert vendor.calls == calls
    assert await _stored(client, user, experiment_id) == stored == calls
    assert 0 < stored < 2000
    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=user)).json()
    assert detail["status"] == "cancelled"
    assert detail["providers"][0]["succeeded"] == stored  # partial metrics, settled

    again = await client.post(f"/v1/experiments/{experiment_id}/cancel", headers=user)
    assert again.status_code == 409


async def test_a_cancelled_batch_is_noticed_from_the_database(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    """A runner that did not get the in-process mark (another process) re-reads the status."""
    runtime = app_runtime(started_app)
    vendor = _SlowDemo(delay=0.02, gate=asyncio.Event())
    runtime.providers.register(vendor)
    runtime.runner.limits.concurrency = 4
    clock = ManualClock()
    runtime.runner.clock = clock
    executor = _watch(runtime, reaches_runner=False)
    user = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/experiments", headers=user, json={**BODY, "iterations": 2000})
    experiment_id = created.json()["id"]
    await wait_until(lambda: vendor.calls >= 4)  # every slot's call waits at the gate
    assert (await client.post(f"/v1/experiments/{experiment_id}/cancel", headers=user)).is_success
    clock.advance(CANCEL_CHECK_SECONDS)  # the re-check interval...
    assert vendor.gate is not None
    vendor.gate.set()
    await wait_until(lambda: executor.ended == 1)  # ...and the calls then in flight
    calls = vendor.calls
    assert vendor.calls == calls < 2000


async def test_cancel_of_a_finished_experiment_is_a_conflict(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    await wait_finished(client, experiment_id, user)
    response = await client.post(f"/v1/experiments/{experiment_id}/cancel", headers=user)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=user)).json()
    assert detail["status"] == "completed"


_CONFIG = ("name", "prompt", "brands", "iterations", "temperature", "grounding", "synthetic")


async def test_rerun_creates_a_new_experiment_with_the_same_configuration(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    user = await register_and_login(client, "ada@example.com")
    body = {**BODY, "temperature": 0.4, "demo_probabilities": {"HubSpot": 0.9}}
    original_id = (await client.post("/v1/experiments", headers=user, json=body)).json()["id"]
    original = await wait_finished(client, original_id, user)

    response = await client.post(f"/v1/experiments/{original_id}/rerun", headers=user)
    assert response.status_code == 202
    rerun_id = response.json()["id"]
    assert rerun_id != original_id
    rerun = await wait_finished(client, rerun_id, user)
    assert rerun["status"] == "completed"
    assert {k: rerun[k] for k in _CONFIG} == {k: original[k] for k in _CONFIG}
    assert [(p["provider"], p["model"]) for p in rerun["providers"]] == [
        (p["provider"], p["model"]) for p in original["providers"]
    ]
    # HubSpot is mentioned 90% of the time: the demo probabilities came along.
    assert rerun["providers"][0]["metrics"]["visibility"]["value"] >= 0.6

    async with transaction(app_runtime(started_app).session_factory) as session:
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "experiment.created", AuditEvent.target_id == rerun_id
            )
        )
        assert event is not None and event.details == {"rerun_of": original_id}


@pytest.mark.parametrize(
    ("column", "stored", "message"),
    [
        ("name", "CRM\x01watch", "name: must not contain control characters (U+0001"),
        ("providers", ["demo:../../etc/passwd"], "providers: a model name is made of"),
    ],
)
async def test_a_configuration_stored_before_a_rule_is_not_run_again(
    client: httpx.AsyncClient, started_app: FastAPI, column: str, stored: object, message: str
) -> None:
    user = await register_and_login(client, "ada@example.com")
    original_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    await wait_finished(client, original_id, user)
    async with transaction(app_runtime(started_app).session_factory) as session:
        experiment = await experiment_service.get(session, uuid.UUID(original_id))
        setattr(experiment, column, stored)  # as an older version let it be stored

    response = await client.post(f"/v1/experiments/{original_id}/rerun", headers=user)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    listed = (await client.get("/v1/experiments", headers=user)).json()["items"]
    assert [item["id"] for item in listed] == [original_id]


async def test_rescore_with_new_brands_keeps_the_history(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    before = await wait_finished(client, experiment_id, user)
    old_rates = before["providers"][0]["metrics"]["mention_rates"]
    assert set(old_rates) == {"HubSpot", "Salesforce", "Pipedrive"}

    brands = {"target": {"name": "HubSpot"}, "competitors": [{"name": "Zoho"}]}
    response = await client.post(
        f"/v1/experiments/{experiment_id}/rescore", headers=user, json={"brands": brands}
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["brands_revision"] == before["brands_revision"] + 1
    (batch,) = after["providers"]
    assert set(batch["metrics"]["mention_rates"]) == {"HubSpot", "Zoho"}
    assert batch["metrics_history"][-1]["metrics"]["mention_rates"] == old_rates
    assert batch["metrics_history"][-1]["brands_revision"] == before["brands_revision"]

    again = await client.post(f"/v1/experiments/{experiment_id}/rescore", headers=user)
    assert again.status_code == 200
    assert len(again.json()["providers"][0]["metrics_history"]) == 2


class _HeldMatcher:
    """Extracts like :class:`BrandMatcher`, but holds its first answer, in whatever thread
    runs the extraction, until the test has been served another request."""

    def __init__(self, brands: BrandSet, extracting: threading.Event, served: threading.Event):
        self._matcher = BrandMatcher(brands)
        self._extracting = extracting
        self._served = served

    def extract(
        self, text: str, *, citations: Sequence[Citation] = (), sources: Sequence[Citation] = ()
    ) -> Extraction:
        if not self._extracting.is_set():
            self._extracting.set()
            # On the event loop this would stall every request: no /health could be
            # served, and this wait gives up (failing the re-score) at the deadline.
            if not self._served.wait(timeout=DEADLINE_SECONDS):
                raise TimeoutError("no request was served while answers were re-extracted")
        return self._matcher.extract(text, citations=citations, sources=sources)


DEADLINE_SECONDS = 60.0


@pytest.mark.long
async def test_health_is_served_while_a_large_rescore_extracts(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session, experiment_input(iterations=3000), chunk_size=500
        )
    await runtime.executor.run_experiment(created.id)
    extracting, served = threading.Event(), threading.Event()

    def held(brands: BrandSet) -> _HeldMatcher:
        return _HeldMatcher(brands, extracting, served)

    async def rescore() -> None:
        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, created.id)
            await experiment_service.rescore(session, experiment, actor=Actor.cli(), matcher=held)

    task = asyncio.create_task(rescore())
    assert await asyncio.to_thread(extracting.wait, DEADLINE_SECONDS)
    health = await client.get("/health")
    assert health.status_code == 200
    assert not task.done()  # the re-score was under way, waiting for this very answer
    served.set()
    await task
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, created.id)
        report = await experiment_service.report(session, experiment)
    assert experiment.brands_revision == 2
    assert report.combined is not None and report.combined.iterations == 3000


async def test_rescore_while_running_is_a_conflict(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    gate = asyncio.Event()  # no answer until the rescore was refused: it is still running
    runtime.providers.register(_SlowDemo(delay=0.0, gate=gate))
    runtime.runner.limits.concurrency = 1
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    response = await client.post(f"/v1/experiments/{experiment_id}/rescore", headers=user)
    assert response.status_code == 409
    # Cancelled while its first call still waits at the gate: it cannot have finished.
    assert (await client.post(f"/v1/experiments/{experiment_id}/cancel", headers=user)).is_success
    gate.set()


async def test_export_json_has_every_iteration(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    user = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=user, json=BODY)).json()["id"]
    url = f"/v1/experiments/{experiment_id}"
    await wait_finished(client, experiment_id, user)
    exported = await client.get(f"{url}/export.json", headers=user)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/json")
    document = exported.json()
    assert document["experiment_id"] == experiment_id
    assert sorted(item["index"] for item in document["items"]) == list(range(20))
    listed = (await client.get(f"{url}/iterations", headers=user, params={"limit": 100})).json()
    assert document["items"] == listed["items"]

    async with transaction(app_runtime(started_app).session_factory) as session:
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "experiment.exported", AuditEvent.target_id == experiment_id
            )
        )
        assert event is not None and event.details == {"format": "json", "rows": 20}


async def test_viewers_and_read_only_keys_cannot_act(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = (await client.post("/v1/experiments", headers=ada, json=BODY)).json()["id"]
    await wait_finished(client, experiment_id, ada)
    reader = await api_key(client, ada, ["read"])
    viewer = await personal_viewer(client, app_runtime(started_app), "ada@example.com")
    outsider = await register_and_login(client, "eve@example.com")
    for action in ("cancel", "rerun", "rescore"):
        url = f"/v1/experiments/{experiment_id}/{action}"
        for headers in (reader, viewer):
            response = await client.post(url, headers=headers)
            assert response.status_code == 403, (action, response.text)
        assert (await client.post(url, headers=outsider)).status_code == 404, action
    for headers in (reader, viewer):
        response = await client.get(f"/v1/experiments/{experiment_id}/export.json", headers=headers)
        assert response.status_code == 200
    assert (
        await client.get(f"/v1/experiments/{experiment_id}/export.json", headers=outsider)
    ).status_code == 404
    listed = (await client.get("/v1/experiments", headers=ada)).json()["items"]
    assert [item["id"] for item in listed] == [experiment_id]  # nothing was re-run
