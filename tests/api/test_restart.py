"""Issue 9, finding 4, as the probe did it: `echo-ai serve` killed with ``kill -9`` in the
middle of an experiment and started again on the same data directory resumes the
interrupted batches at once (not after the ten-minute stalled-batch sweep), with nothing
lost or duplicated, and says so in its log and in the audit log.

A second test shows the other side of the rule: only a process with the in-process
executor resumes at start-up; `echo-ai api` with Celery leaves the batches to the workers
(its beat's broker-aware sweep recovers those of a dead worker).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select, update

from echo_ai.app import create_app
from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.broker import queued_key
from echo_ai.execution.runtime import open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.observability import CELERY_QUEUE
from echo_ai.runs.models import BatchRun, BatchStatus
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.experiments.test_router import BODY
from tests.factories import experiment_input
from tests.kit import PASSWORD, bearer, wait_until, wait_until_sync
from tests.live import ServeProcess
from tests.servers import flushed_redis, per_test_process

pytestmark = pytest.mark.long


ITERATIONS = 150
PROVIDERS = ["openai:gpt-4o-mini", "openai:gpt-4o"]
CONCURRENCY = 2
"""Calls in flight per provider in the server: at most this many are lost by the kill."""

REDIS_DB = per_test_process((8, 9))


class Serve(ServeProcess):
    """`echo-ai serve` on a data directory, answering through the fake LLM server."""

    def __init__(self, data_dir: Path, fake_llm: FakeLLMServer, cwd: Path) -> None:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("ECHO_AI_")
            and not name.endswith(("_API_KEY", "_BASE_URL", "_API_KEY_FILE"))
            and name not in {"DATABASE_URL", "REDIS_URL"}
        }
        env.update(
            {
                "ECHO_AI_DATA_DIR": str(data_dir),
                "OPENAI_BASE_URL": f"{fake_llm.base_url}/v1",
                "OPENAI_API_KEY": "test",
                "ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER": str(CONCURRENCY),
                "PYTHONUNBUFFERED": "1",
            }
        )
        super().__init__(env, cwd=cwd)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def kill(self) -> None:
        self.http.close()
        super().kill()

    def stop(self) -> None:
        self.http.close()
        super().stop()


@pytest.fixture
def serves(tmp_path: Path, fake_llm: FakeLLMServer) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        if serve.process.poll() is None:
            serve.process.kill()
            serve.process.wait(timeout=30)


def _rows(database: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Read the server's SQLite file, as another process may at any time."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return list(connection.execute(sql, args))
    finally:
        connection.close()


def _hex(value: str) -> str:
    """A UUID as SQLite stores it (32 hex digits)."""
    return uuid.UUID(value).hex


def test_serve_killed_mid_batch_resumes_it_at_start_up_with_nothing_lost_or_duplicated(
    tmp_path: Path, fake_llm: FakeLLMServer, serves: list[Serve]
) -> None:
    fake_llm.config.latency_ms = 40  # 2 x 150 answers at 2 x 2 in flight: several seconds
    data_dir = tmp_path / "data"
    database = data_dir / "echo-ai.db"
    first = Serve(data_dir, fake_llm, tmp_path)
    serves.append(first)

    assert first.http.post(
        "/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "accept_terms": True},
    ).is_success
    login = first.http.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    user = bearer(login.json()["access_token"])
    body = {**BODY, "providers": PROVIDERS, "iterations": ITERATIONS}
    created = first.http.post("/v1/experiments", headers=user, json=body)
    assert created.status_code == 202, created.text
    interrupted = created.json()["id"]

    def stored() -> int:
        return int(
            _rows(
                database,
                "SELECT coalesce(sum(stored), 0) FROM batch_runs WHERE experiment_id = ?",
                _hex(interrupted),
            )[0][0]
        )

    wait_until_sync(lambda: stored() >= 20, within=60, message="no iteration was stored")
    first.kill()  # kill -9, mid-batch
    at_kill = stored()
    assert at_kill < len(PROVIDERS) * ITERATIONS, "the run ended before the kill: slow it down"
    (status,) = _rows(database, "SELECT status FROM experiments WHERE id = ?", _hex(interrupted))
    assert status == ("running",)

    # An experiment the dead server had stored but not started yet (killed between the
    # commit and the start): queued, never dispatched.
    workspace_hex = _rows(
        database, "SELECT workspace_id FROM experiments WHERE id = ?", _hex(interrupted)
    )[0][0]
    never_started = _store_queued_experiment(data_dir, uuid.UUID(workspace_hex))

    calls_before_restart = fake_llm.request_count
    second = Serve(data_dir, fake_llm, tmp_path)
    serves.append(second)

    def finished(experiment_id: str) -> bool:
        (status,) = _rows(
            database, "SELECT status FROM experiments WHERE id = ?", _hex(experiment_id)
        )
        return bool(status[0] in ("completed", "failed", "cancelled"))

    # Well within the sweep's ten minutes: the restart itself resumes them.
    wait_until_sync(
        lambda: finished(interrupted) and finished(str(never_started)),
        within=90,
        message=lambda: f"the experiments were not resumed: {second.output[-3000:]}",
    )
    for experiment_id in (interrupted, str(never_started)):
        detail = second.http.get(f"/v1/experiments/{experiment_id}", headers=user).json()
        assert detail["status"] == "completed", detail
        for batch in detail["providers"]:
            assert (batch["status"], batch["stored"]) == ("completed", ITERATIONS), batch
            assert batch["succeeded"] + batch["failed"] == ITERATIONS
        batches = _rows(
            database,
            "SELECT id, stored, succeeded, failed, lease_owner FROM batch_runs "
            "WHERE experiment_id = ?",
            _hex(experiment_id),
        )
        assert len(batches) == len(PROVIDERS)
        for batch_id, count, succeeded, failed, owner in batches:
            rows, distinct, low, high = _rows(
                database,
                'SELECT count(*), count(DISTINCT "index"), min("index"), max("index") '
                "FROM iterations WHERE batch_run_id = ?",
                batch_id,
            )[0]
            assert (rows, distinct, low, high) == (ITERATIONS, ITERATIONS, 0, ITERATIONS - 1)
            assert count == succeeded + failed == rows  # the counters tell the truth
            assert owner is None  # the lease was given back at the end
    second.stop()

    # Each answer was paid for once, but for the calls in flight when the server died.
    total = 2 * len(PROVIDERS) * ITERATIONS
    assert total <= fake_llm.request_count <= total + len(PROVIDERS) * CONCURRENCY
    assert fake_llm.request_count - calls_before_restart <= total - at_kill

    resumed = [e for e in second.events() if "interrupted batch(es)" in e["event"]]
    assert len(resumed) == 1, second.output[-3000:]
    assert resumed[0]["event"].startswith(
        f"resumed {2 * len(PROVIDERS)} interrupted batch(es) of 2 experiment(s) at start-up"
    )
    audit = _rows(
        database,
        "SELECT target_id, actor_type, details FROM audit_events WHERE action = ?",
        "experiment.resumed",
    )
    assert sorted((target, actor) for target, actor, _ in audit) == sorted(
        [(interrupted, "scheduler"), (str(never_started), "scheduler")]
    )
    assert all(
        json.loads(details) == {"reason": "start-up", "batches": len(PROVIDERS)}
        for _, _, details in audit
    )


def _store_queued_experiment(data_dir: Path, workspace_id: uuid.UUID) -> uuid.UUID:
    """Store an experiment (queued, its batches planned) in the server's database from
    this process, as the server does before it starts one."""

    async def store() -> uuid.UUID:
        async with (
            open_runtime(Settings(data_dir=data_dir)) as runtime,
            transaction(runtime.session_factory) as session,
        ):
            experiment = await experiment_service.create(
                session,
                experiment_input(providers=PROVIDERS, iterations=ITERATIONS),
                chunk_size=50,
                workspace_id=workspace_id,
            )
            return experiment.id

    return asyncio.run(store())


@pytest.fixture
def broker() -> Iterator[str]:
    with flushed_redis(REDIS_DB) as url:
        yield url


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_the_api_with_celery_resumes_nothing_at_start_up(
    backend: str, settings: Settings, broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHO_AI_SECRET_KEY", raising=False)
    async with (
        open_runtime(settings) as runtime,
        transaction(runtime.session_factory) as session,
    ):
        experiment = await experiment_service.create(
            session, experiment_input(iterations=10), chunk_size=5
        )
        # Running, held by a process of this machine that is gone: the kind of batch the
        # embedded server takes over at start-up.
        await session.execute(
            update(BatchRun)
            .where(BatchRun.experiment_id == experiment.id)
            .values(
                status=BatchStatus.RUNNING,
                lease_owner=f"{socket.gethostname()}:{_dead_pid()}:0badcafe",
                heartbeat_at=utcnow() - timedelta(seconds=1),
            )
        )

    celery = settings.model_copy(update={"executor": "celery", "redis_url": broker})
    app = create_app(celery)
    async with app.router.lifespan_context(app):
        assert app.state.service.scheduler_task is None  # `echo-ai beat` schedules
        async with transaction(app.state.service.runtime.session_factory) as session:
            owners = set(
                await session.scalars(
                    select(BatchRun.lease_owner).where(BatchRun.experiment_id == experiment.id)
                )
            )
    assert len(owners) == 1 and next(iter(owners)).endswith(":0badcafe")  # untouched
    client = redis.Redis.from_url(broker)
    try:
        assert client.llen(CELERY_QUEUE) == 0 and not list(client.scan_iter(queued_key("*")))
    finally:
        client.close()

    # The same database served with the in-process executor: it takes the batch over.
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.service.runtime

        async def done() -> bool:
            async with transaction(runtime.session_factory) as session:
                statuses = set(
                    await session.scalars(
                        select(BatchRun.status).where(BatchRun.experiment_id == experiment.id)
                    )
                )
            return statuses == {BatchStatus.COMPLETED}

        await wait_until(done, within=60, message="the embedded server did not resume it")


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid
