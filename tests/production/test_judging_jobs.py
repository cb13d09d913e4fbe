"""The sentiment judge in production mode: a judging asked through the API (which only
sends the task after its commit) is run by a real `echo-ai worker`; one whose task was
never sent (the broker was down) is dispatched again by `echo-ai beat` once nobody has
moved it for the visibility timeout, and the worker runs it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from echo_ai.app import create_app
from echo_ai.db import transaction, utcnow
from echo_ai.experiments import sentiment_judge
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.registry import ProviderSpec
from tests.kit import app_runtime, register_and_login, wait_finished, wait_judged
from tests.production.conftest import Cluster, Database, client_settings, wait_for

pytestmark = pytest.mark.long

BODY = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]},
    "providers": ["demo"],
    "iterations": 50,
    "demo_probabilities": {"HubSpot": 1.0, "Salesforce": 0.5},
}


async def test_a_worker_runs_the_judging_and_beat_takes_up_one_never_sent(
    cluster: Cluster, database: Database, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.worker(concurrency=1)
    settings = client_settings(database.url, broker_url)
    settings.data_dir = cluster.directory / "data"
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            user = await register_and_login(client, "ada@example.com")
            created = await client.post("/v1/experiments", headers=user, json=BODY)
            assert created.status_code == 202, created.text
            experiment_id = created.json()["id"]
            await wait_finished(client, experiment_id, user, within=90)

            # Asked through the API: the task goes to the broker, a worker runs it.
            started = await client.post(
                f"/v1/experiments/{experiment_id}/sentiment-judge",
                headers=user,
                json={"provider": "demo"},
            )
            assert started.status_code == 202, started.text
            ended = await wait_judged(client, user, experiment_id, within=90)
            assert (ended["status"], ended["read"], ended["judged"]) == ("completed", 50, 50)

            # A judging whose task was never sent: beat dispatches it again.
            runtime = app_runtime(app)
            async with transaction(runtime.session_factory) as session:
                experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
                judging = await sentiment_judge.start(
                    session,
                    runtime,
                    experiment,
                    ProviderSpec.parse("demo"),
                    actor=Actor.cli(),
                    now=utcnow(),
                    judge_later=None,
                )
                judging_id = judging.id
            cluster.beat()

            async def completed() -> bool:
                cluster.check_alive()
                row = await database.fetchrow(
                    "SELECT status FROM sentiment_judgings WHERE id = $1", judging_id
                )
                assert row["status"] != "failed"
                return bool(row["status"] == "completed")

            await wait_for(completed, within=90, what="beat and a worker to run the judging")

    assert "echo_ai.judge_sentiment" in cluster.logs()
    rows = await database.fetch(
        "SELECT id, dispatched_at, judged FROM sentiment_judgings ORDER BY created_at"
    )
    assert [row["judged"] for row in rows] == [50, 50]
    assert rows[1]["dispatched_at"] is not None  # never sent by the API: by beat
