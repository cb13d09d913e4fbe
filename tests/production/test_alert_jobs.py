"""Alerts in production mode: the worker that finalises the batch completing a run sends
the ``echo_ai.evaluate_alerts`` task to the background queue; a worker evaluates the run
(once) and POSTs the signed webhook, which a local receiver verifies."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest

from echo_ai.alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from echo_ai.app import create_app
from echo_ai.db import transaction, utcnow
from echo_ai.experiments import service as experiment_service
from echo_ai.runs import service as run_service
from tests.alerts.receiver import Receiver, webhook_receiver
from tests.kit import app_runtime, register_and_login, wait_finished
from tests.production.conftest import Cluster, Database, client_settings, wait_for

pytestmark = pytest.mark.long

BODY = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]},
    "providers": ["demo"],
    "iterations": 60,
    "demo_probabilities": {"HubSpot": 0.3},
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


async def test_a_worker_evaluates_the_completed_run_and_sends_the_webhook(
    cluster: Cluster,
    database: Database,
    broker_url: str,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = secrets.token_urlsafe(36)  # the API and the workers decrypt the same secrets
    cluster.worker(
        concurrency=1, ECHO_AI_SECRET_KEY=key, ECHO_AI_ALERTS__ALLOW_PRIVATE_WEBHOOK_URLS="true"
    )
    settings = client_settings(database.url, broker_url)
    settings.data_dir = cluster.directory / "data"
    settings.alerts.allow_private_webhook_urls = True
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", key)
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            user = await register_and_login(client, "ada@example.com")
            created = await client.post("/v1/experiments", headers=user, json=BODY)
            assert created.status_code == 202, created.text
            experiment_id = created.json()["id"]
            await wait_finished(client, experiment_id, user, within=90)
            rule = await client.post(
                "/v1/alerts/rules",
                headers=user,
                json={
                    "name": "HubSpot visibility",
                    "experiment_id": experiment_id,
                    "min_effect_points": 10,
                    "webhook_url": receiver.url,
                },
            )
            assert rule.status_code == 201, rule.text
            secret = rule.json()["webhook_secret"]

            runtime = app_runtime(app)
            async with transaction(runtime.session_factory) as session:
                experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
                experiment.demo_probabilities = {"HubSpot": 0.95}
                await run_service.start_run(session, experiment, chunk_size=60, now=utcnow())
            await runtime.executor.run_experiment(uuid.UUID(experiment_id))

            async def received() -> bool:
                cluster.check_alive()
                return bool(receiver.received)

            await wait_for(received, within=90, what="the worker to send the webhook")
            request = receiver.received[0]
            assert verify(
                secret,
                timestamp=request.headers[TIMESTAMP_HEADER],
                body=request.body,
                signed=request.headers[SIGNATURE_HEADER],
                now=float(request.headers[TIMESTAMP_HEADER]),
            )
            assert json.loads(request.body)["round"] == 2

    assert "echo_ai.evaluate_alerts" in cluster.logs()
    row = await database.fetchrow("SELECT count(*) AS n FROM alert_evaluations")
    assert row["n"] == 2  # each run evaluated once
    row = await database.fetchrow("SELECT count(*) AS n FROM alerts")
    assert row["n"] == 1
    row = await database.fetchrow("SELECT status, last_status_code FROM alert_deliveries")
    assert (row["status"], row["last_status_code"]) == ("sent", 200)
