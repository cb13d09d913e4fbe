"""The separate metrics port, and the Celery queue depth read from Redis."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
import redis

from echo_ai.app import create_app
from echo_ai.config import ObservabilitySettings, Settings
from echo_ai.observability import CELERY_QUEUE, start_metrics_server, watch_process
from echo_ai.observability.server import running_metrics_server
from tests.observability.helpers import samples, value
from tests.servers import flushed_redis

QUEUE_DB = 14
"""A Redis database of its own, so no real worker sees the messages pushed here."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_port(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"observability": ObservabilitySettings(metrics_port=port)})


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_the_metrics_server_serves_the_registry_until_closed(settings: Settings) -> None:
    assert start_metrics_server(settings) is None  # no port configured
    port = _free_port()
    server = start_metrics_server(_with_port(settings, port))
    assert server is not None
    try:
        assert start_metrics_server(_with_port(settings, port)) is server  # one per process
        response = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200
        assert "http_request_duration_seconds" in response.text
        assert "iterations_total" in response.text
    finally:
        server.close()
    assert running_metrics_server() is None
    assert _refused(port)


async def test_the_api_serves_the_port_only_while_running(settings: Settings) -> None:
    port = _free_port()
    app = create_app(_with_port(settings, port))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics")).status_code == 404  # no token: not on the API
            await client.get("/health")
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert 'route="/health"' in scraped.text
        assert "db_pool_size" in scraped.text
    assert running_metrics_server() is None
    assert _refused(port)


async def test_an_api_process_whose_metrics_port_is_taken_still_starts(
    settings: Settings,
) -> None:
    with socket.socket() as taken:  # another API process of `echo-ai api --workers N`
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        app = create_app(_with_port(settings, int(taken.getsockname()[1])))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert (await client.get("/health")).status_code == 200
            assert running_metrics_server() is None


@pytest.fixture
def celery_broker() -> Iterator[str]:
    with flushed_redis(QUEUE_DB) as url:
        yield url


def test_the_celery_queue_depth_is_the_broker_list_length(
    settings: Settings, celery_broker: str
) -> None:
    celery = settings.model_copy(update={"executor": "celery", "redis_url": celery_broker})
    client = redis.Redis.from_url(celery_broker)
    client.rpush(CELERY_QUEUE, "a", "b")
    client.rpush(f"{CELERY_QUEUE}\x06\x163", "c")  # kombu's list for priority 3
    unwatch = watch_process(celery, local_queue=lambda: 100)
    try:
        assert value(samples(), "executor_queue_depth") == 3
        client.lpop(CELERY_QUEUE)
        assert value(samples(), "executor_queue_depth") == 2
    finally:
        unwatch()


def test_an_unreachable_broker_does_not_break_the_scrape(settings: Settings) -> None:
    port = _free_port()  # nothing listens there
    celery = settings.model_copy(
        update={"executor": "celery", "redis_url": f"redis://127.0.0.1:{port}/0"}
    )
    unwatch = watch_process(celery)
    try:
        found = samples()
    finally:
        unwatch()
    assert ("executor_queue_depth", frozenset()) not in found
    assert any(name == "process_cpu_seconds_total" for name, _ in found)
