"""Mail and data exports in production mode: the API (in this test process, with
``ECHO_AI_EXECUTOR=celery``) only sends tasks after its commits; real `echo-ai worker`
processes send the mail and prepare the exports, and `echo-ai beat` catches up on what the
API could not hand over while the broker was down."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.app import create_app
from echo_ai.config import Settings
from echo_ai.execution.background import CeleryJobs
from echo_ai.mail.sender import outbox_folder
from echo_ai.security.rate_limit import RateLimiter
from tests.kit import bearer, login, register
from tests.mail.smtp import SmtpServer, smtp_server
from tests.production.conftest import (
    Cluster,
    Database,
    RedisServer,
    client_settings,
    wait_for,
)

pytestmark = pytest.mark.long


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def smtp_env(smtp: SmtpServer) -> dict[str, str]:
    """Where the workers and beat send mail (the API's own settings have no SMTP server:
    a mail it sent itself would land in its outbox folder instead)."""
    return {
        "ECHO_AI_MAIL__SMTP_HOST": smtp.host,
        "ECHO_AI_MAIL__SMTP_PORT": str(smtp.port),
        "ECHO_AI_MAIL__SMTP_SECURITY": "none",
    }


def api_settings(database: Database, redis_url: str, cluster: Cluster) -> Settings:
    """The API's settings: celery mode, the cluster's data directory (shared with the
    workers, as a volume would be: the API serves the ZIP a worker wrote)."""
    settings = client_settings(database.url, redis_url)
    settings.data_dir = cluster.directory / "data"
    return settings


@asynccontextmanager
async def serving(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


def assert_no_work_here(app: FastAPI) -> None:
    """The API process hands mail and exports to the workers: no mail loop, no export
    task of its own."""
    state = app.state.service
    assert isinstance(state.jobs, CeleryJobs)
    assert state.jobs is state.runtime.background


def idle(app: FastAPI) -> Callable[[], Awaitable[bool]]:
    """Whether the API has no background job (or send of one) still going."""

    async def check() -> bool:
        return not app.state.service.background

    return check


def mails_to(smtp: SmtpServer, address: str) -> list[Any]:
    return [m for m in smtp.recorder.messages if m["To"] == address]


async def request_export(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    requested = await client.post("/v1/account/export", headers=headers)
    assert requested.status_code == 202, requested.text
    body: dict[str, Any] = requested.json()
    assert body["status"] == "preparing"
    return body


async def wait_ready(
    cluster: Cluster, client: httpx.AsyncClient, headers: dict[str, str], export_id: str
) -> None:
    async def ready() -> bool:
        cluster.check_alive()
        polled = await client.get(f"/v1/account/exports/{export_id}", headers=headers)
        assert polled.json()["status"] != "failed", polled.text
        return bool(polled.json()["status"] == "ready")

    await wait_for(ready, within=60, what=f"export {export_id} to be ready")


async def download(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> set[str]:
    link = httpx.URL(url)
    got = await client.get(link.path, params=dict(link.params), headers=headers)
    assert got.status_code == 200, got.text
    with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
        return set(archive.namelist())


async def test_a_mail_queued_by_the_api_is_sent_by_a_worker(
    cluster: Cluster,
    database: Database,
    broker_url: str,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster.worker(concurrency=1, **smtp_env(smtp))  # no beat: only a worker may send it
    settings = api_settings(database, broker_url, cluster)
    async with serving(settings, monkeypatch) as (app, client):
        assert_no_work_here(app)
        await register(client, "ada@example.com")  # queues the address's confirmation

        async def received() -> bool:
            cluster.check_alive()
            return bool(mails_to(smtp, "ada@example.com"))

        await wait_for(received, within=45, what="the worker to send the mail")

    [message] = mails_to(smtp, "ada@example.com")
    assert "Confirm your e-mail address" in message["Subject"]
    row = await database.fetchrow("SELECT status, attempts FROM outbound_mails")
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert not outbox_folder(settings.data_dir).exists()  # the API wrote nothing itself
    assert "echo_ai.deliver_mail" in cluster.logs()


async def test_an_export_asked_through_the_api_is_prepared_by_a_worker(
    cluster: Cluster,
    database: Database,
    broker_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster.worker(concurrency=1)
    settings = api_settings(database, broker_url, cluster)
    async with serving(settings, monkeypatch) as (app, client):
        assert_no_work_here(app)
        await register(client, "ada@example.com")
        headers = bearer((await login(client, "ada@example.com"))["access_token"])
        requested = await request_export(client, headers)
        await wait_ready(cluster, client, headers, requested["id"])
        names = await download(client, requested["download_url"], headers)

    assert {"account.json", "memberships.json", "audit_events.json"} <= names
    row = await database.fetchrow(
        "SELECT started_at, dispatched_at, file_name FROM data_exports WHERE id = $1",
        uuid.UUID(requested["id"]),
    )
    assert row["started_at"] is not None and row["dispatched_at"] is None
    assert (Path(settings.data_dir) / "exports" / row["file_name"]).exists()
    assert "echo_ai.prepare_export" in cluster.logs()


async def test_with_the_broker_down_requests_succeed_and_the_work_is_done_later(
    make_cluster: Any,
    own_redis: Any,
    database: Database,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker: RedisServer = own_redis(persistent=False)
    cluster: Cluster = make_cluster(broker.url)
    settings = api_settings(database, broker.url, cluster)
    async with serving(settings, monkeypatch) as (app, client):
        assert_no_work_here(app)
        await register(client, "ada@example.com")
        headers = bearer((await login(client, "ada@example.com"))["access_token"])
        await wait_for(idle(app), within=30, what="ada's mail to be handed over")

        broker.stop()
        # The rate limits share the Redis server with the broker in production; here they
        # are kept in memory so that the requests reach what this test is about.
        app.state.rate_limiter = RateLimiter()
        await register(client, "bob@example.com")
        requested = await request_export(client, headers)
        # Both answered at once; the sends, given up in the background, are logged
        # (tests/execution/test_background.py) and the work waits in the database.
        await wait_for(idle(app), within=30, what="the sends to the broker to be given up")
        row = await database.fetchrow(
            "SELECT status FROM outbound_mails WHERE to_address = $1", "bob@example.com"
        )
        assert row["status"] == "queued"
        export = await database.fetchrow(
            "SELECT status FROM data_exports WHERE id = $1", uuid.UUID(requested["id"])
        )
        assert export["status"] == "preparing"

        # The broker is back: beat's tick sends the mail, and dispatches the export again
        # once nobody has started it for the visibility timeout (12 s here).
        broker.start()
        cluster.worker(concurrency=1, **smtp_env(smtp))
        cluster.beat(**smtp_env(smtp))

        async def mailed() -> bool:
            cluster.check_alive()
            return bool(mails_to(smtp, "bob@example.com"))

        await wait_for(mailed, within=30, what="the queued mail to be sent")
        await wait_ready(cluster, client, headers, requested["id"])
        names = await download(client, requested["download_url"], headers)

    assert "account.json" in names
    row = await database.fetchrow(
        "SELECT dispatched_at FROM data_exports WHERE id = $1",
        uuid.UUID(requested["id"]),
    )
    assert row["dispatched_at"] is not None  # by beat
