"""Sentry and OpenTelemetry: off by default, and when configured they report to a local
server (standing in for the collector / Sentry) without changing any response."""

from __future__ import annotations

import gzip
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import brotli
import httpx
import pytest
import sentry_sdk
from fastapi import FastAPI

from echo_ai.app import create_app
from echo_ai.config import ObservabilitySettings, Settings
from echo_ai.observability import configure_tracing
from echo_ai.observability.tracing import Tracing
from tests.kit import wait_until_sync


@dataclass
class Received:
    requests: list[tuple[str, bytes]] = field(default_factory=list)

    def wait_for(self, path_part: str, timeout: float = 30.0) -> list[bytes]:
        def bodies() -> list[bytes]:
            return [body for path, body in self.requests if path_part in path]

        wait_until_sync(
            lambda: bool(bodies()),
            within=timeout,
            message=lambda: f"nothing posted to {path_part}: {self.requests}",
        )
        return bodies()


def _decoded(request: BaseHTTPRequestHandler) -> Callable[[bytes], bytes]:
    """How to decode a body by its ``Content-Encoding`` (Sentry compresses its envelopes
    with brotli when the module is installed, gzip otherwise)."""
    encoding = request.headers.get("Content-Encoding", "")
    return {"gzip": gzip.decompress, "br": brotli.decompress}.get(encoding, bytes)


@pytest.fixture
def collector() -> Iterator[tuple[str, Received]]:
    """A local HTTP server that records every POST (path and raw body) and answers 200."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.requests.append((self.path, _decoded(self)(self.rfile.read(length))))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


def test_nothing_is_turned_on_without_configuration(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SENTRY_DSN", "SENTRY_DSN_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    tracing = configure_tracing(settings, FastAPI())
    assert tracing == Tracing(sentry=False, tracer_provider=None)
    tracing.flush()  # harmless


async def test_spans_reach_the_otlp_endpoint(
    settings: Settings, collector: tuple[str, Received]
) -> None:
    url, received = collector
    configured = settings.model_copy(
        update={"observability": ObservabilitySettings(otlp_endpoint=url, service_name="echo-t")}
    )
    app = create_app(configured)
    tracing: Tracing = app.state.tracing
    assert tracing.tracer_provider is not None and not tracing.sentry
    async for client in _client(app):
        response = await client.get("/v1/experiments")
        assert response.status_code == 401  # the app answers as usual
        assert response.json()["error"]["code"] == "not_authenticated"
        assert (await client.get("/health")).status_code == 200
        tracing.flush()
    bodies = received.wait_for("/v1/traces")
    exported = b"".join(bodies)
    assert b"echo-t" in exported  # the service name resource
    assert b"GET /v1/experiments" in exported  # the span, named by route template
    assert b"/health" not in exported  # probes are not traced
    # It is now the process's global provider: stop it before its collector goes away.
    tracing.tracer_provider.shutdown()


async def test_sentry_reports_an_unhandled_error_and_requests_still_work(
    settings: Settings, collector: tuple[str, Received]
) -> None:
    url, received = collector
    dsn = url.replace("http://", "http://publickey@") + "/1"
    configured = settings.model_copy(
        update={"observability": ObservabilitySettings(sentry_dsn=dsn)}
    )
    app = create_app(configured)

    @app.get("/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom for sentry")

    try:
        assert app.state.tracing.sentry
        async for client in _client(app):
            assert (await client.get("/health")).status_code == 200
            failed = await client.get("/test-only/boom")
            assert failed.status_code == 500
            assert failed.json()["error"]["code"] == "internal_error"
            assert "kaboom" not in failed.text
            app.state.tracing.flush()
        envelopes = received.wait_for("/api/1/envelope/")
        events = b"".join(envelopes)
        assert b"kaboom for sentry" in events
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: back to a non-recording client for later tests
