"""The service's foundation: lifespan, middleware, error shapes, health, ``serve``."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from echo_ai.api.deps import SessionDep
from echo_ai.api.middleware import REQUEST_ID_HEADER
from echo_ai.app import StartupError, create_app
from echo_ai.cli import app as cli_app
from echo_ai.config import ServerSettings, Settings
from echo_ai.errors import Conflict, NotFound
from echo_ai.security.headers import HSTS_VALUE
from echo_ai.security.rate_limit import rate_limit
from tests.live import ServeProcess

INTERNAL = {"error": {"code": "internal_error", "message": "internal error", "details": None}}


class Item(BaseModel):
    name: str
    count: int


def add_test_routes(app: FastAPI) -> None:
    """Routes that exist only on test app instances."""

    @app.get("/_test/not-found")
    async def not_found() -> None:
        raise NotFound("widget not found")

    @app.get("/_test/conflict")
    async def conflict() -> None:
        raise Conflict("widget already exists")

    @app.get("/_test/crash")
    async def crash() -> None:
        raise RuntimeError("database password is hunter2")

    @app.get("/_test/server-banner")
    async def banner(response: Response) -> dict[str, str]:
        response.headers["Server"] = "leaky/1.0"
        return {"ok": "yes"}

    @app.post("/_test/items")
    async def items(item: Item) -> dict[str, Any]:
        return item.model_dump()

    @app.post("/_test/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/_test/limited", dependencies=[Depends(rate_limit("2/minute", name="test"))])
    async def limited() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/_test/write")
    async def write(session: SessionDep) -> dict[str, str]:
        await session.execute(text("CREATE TABLE IF NOT EXISTS _probe (value TEXT)"))
        await session.execute(text("INSERT INTO _probe (value) VALUES ('written')"))
        return {"ok": "yes"}


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    add_test_routes(app)
    return app


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


# --- app, docs -------------------------------------------------------------------------


async def test_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "Echo AI"
    assert schema["info"]["version"]
    assert "/health" in schema["paths"] and "/health/ready" in schema["paths"]
    assert not any(path.startswith("/docs") for path in schema["paths"])
    # /docs itself: tests/api/test_docs.py


async def test_state_is_built_and_released(app: FastAPI) -> None:
    async with app.router.lifespan_context(app):
        state = app.state.service
        async with state.runtime.engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
        assert state.keys.current and state.signer is not None
    assert not hasattr(app.state, "service")


@pytest.mark.parametrize("secret", ["short", "changeme-" * 6, "ab" * 40])
async def test_weak_secret_refuses_to_start(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", secret)
    with pytest.raises(StartupError, match="refusing to start: Secret key"):
        async with app.router.lifespan_context(app):
            pytest.fail("started with a weak secret key")


async def test_production_without_secret_refuses_to_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHO_AI_SECRET_KEY", raising=False)
    settings.environment = "production"
    app = create_app(settings)
    with pytest.raises(StartupError, match="ECHO_AI_SECRET_KEY"):
        async with app.router.lifespan_context(app):
            pytest.fail("started without a secret key in production")


# --- security headers ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/no-such-route", "/_test/crash", "/openapi.json"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    headers = response.headers
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["cross-origin-resource-policy"] == "same-origin"
    assert "strict-transport-security" not in headers  # plain http
    assert "cache-control" not in headers  # anonymous
    assert "server" not in headers


async def test_hsts_when_served_over_https(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHO_AI_SECRET_KEY", raising=False)
    settings.server = ServerSettings(public_url="https://echo.example.com")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as client:
            response = await client.get("/health")
    assert response.headers["strict-transport-security"] == HSTS_VALUE


@pytest.mark.parametrize(
    ("headers", "cookies"),
    [
        ({"Authorization": "Bearer whatever"}, {}),
        ({}, {"echo_session": "abc"}),
        ({}, {"__Host-echo_session": "abc"}),
    ],
)
async def test_no_store_on_authenticated_requests(
    client: httpx.AsyncClient, headers: dict[str, str], cookies: dict[str, str]
) -> None:
    client.cookies.update(cookies)
    response = await client.get("/health", headers=headers)
    assert response.headers["cache-control"] == "no-store"


async def test_unrelated_cookie_is_not_authenticated(client: httpx.AsyncClient) -> None:
    client.cookies.set("theme", "dark")
    assert "cache-control" not in (await client.get("/health")).headers


async def test_server_header_is_stripped(client: httpx.AsyncClient) -> None:
    response = await client.get("/_test/server-banner")
    assert response.status_code == 200
    assert "server" not in response.headers


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/health",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers
    response = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_only_for_configured_origins(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHO_AI_SECRET_KEY", raising=False)
    settings.server = ServerSettings(allowed_origins=["https://app.example.com"])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            good = await client.options(
                "/health",
                headers={
                    "Origin": "https://app.example.com",
                    "Access-Control-Request-Method": "GET",
                },
            )
            bad = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert good.headers["access-control-allow-origin"] == "https://app.example.com"
    assert good.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in bad.headers


# --- request id ------------------------------------------------------------------------


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={REQUEST_ID_HEADER: "abc-123_XYZ"})
    assert response.headers[REQUEST_ID_HEADER] == "abc-123_XYZ"


async def test_request_id_is_generated(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health")).headers[REQUEST_ID_HEADER]
    second = (await client.get("/health")).headers[REQUEST_ID_HEADER]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize("incoming", ["x" * 65, "a b", "id\\u0000", "<script>", "a/b", ""])
async def test_insane_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health", headers={REQUEST_ID_HEADER: incoming})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers[REQUEST_ID_HEADER])


async def test_request_id_on_errors(client: httpx.AsyncClient) -> None:
    for path in ("/_test/crash", "/nope"):
        response = await client.get(path, headers={REQUEST_ID_HEADER: "trace-me"})
        assert response.headers[REQUEST_ID_HEADER] == "trace-me"


# --- body size -------------------------------------------------------------------------


async def test_body_within_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/_test/raw", content=b"x" * 1_000_000)
    assert response.json() == {"size": 1_000_000}


async def test_content_length_over_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/_test/raw", content=b"x" * 1_000_001)
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": 1_000_000}
    assert response.headers[REQUEST_ID_HEADER]
    assert response.headers["x-content-type-options"] == "nosniff"


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"y" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize("path", ["/_test/raw", "/_test/items"])
async def test_chunked_body_over_limit_is_413(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, content=_chunks(1_200_000), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers  # really streamed
    assert_error(response, 413, "payload_too_large")


async def test_chunked_body_within_limit(client: httpx.AsyncClient) -> None:
    response = await client.post("/_test/raw", content=_chunks(300_000))
    assert response.json() == {"size": 300_000}


async def test_invalid_content_length_is_400(started_app: FastAPI) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/_test/raw",
        "raw_path": b"/_test/raw",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", b"12abc")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    await started_app(scope, receive, send)
    assert sent[0]["status"] == 400


# --- error shapes ----------------------------------------------------------------------


async def test_app_errors_keep_status_and_code(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.get("/_test/not-found"), 404, "not_found")
    assert error["message"] == "widget not found"
    error = assert_error(await client.get("/_test/conflict"), 409, "conflict")
    assert error["message"] == "widget already exists"


async def test_unknown_route_is_404_in_shape(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.get("/does/not/exist"), 404, "not_found")
    assert error["details"] is None


async def test_wrong_method_is_405_in_shape(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] in ("GET", "GET, HEAD")


async def test_validation_error_lists_fields_without_echoing_input(
    client: httpx.AsyncClient,
) -> None:
    huge = "z" * 200_000
    response = await client.post("/_test/items", json={"name": 5, "count": huge})
    error = assert_error(response, 422, "validation_error")
    fields = {item["field"]: item for item in error["details"]}
    assert set(fields) == {"name", "count"}
    assert fields["count"]["location"] == "body"
    assert "integer" in fields["count"]["message"]
    assert huge[:100] not in response.text
    assert len(response.content) < 2_000


async def test_validation_error_on_missing_body_and_bad_json(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.post("/_test/items"), 422, "validation_error")
    assert error["details"][0]["field"] == "body" or error["details"][0]["location"] == "body"
    response = await client.post(
        "/_test/items", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


async def test_unexpected_error_is_a_bare_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="echo_ai.api"):
        response = await client.get("/_test/crash", headers={REQUEST_ID_HEADER: "crash-1"})
    assert response.status_code == 500
    assert response.json() == INTERNAL
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert response.headers[REQUEST_ID_HEADER] == "crash-1"
    record = next(r for r in caplog.records if "crash-1" in r.getMessage())
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


async def test_rate_limited_route_gives_429_with_headers(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_test/limited")).status_code == 200
    assert (await client.post("/_test/limited")).status_code == 200
    response = await client.post("/_test/limited")
    error = assert_error(response, 429, "rate_limited")
    assert error["details"] is None
    assert response.headers["x-ratelimit-limit"] == "2"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert 0 < int(response.headers["retry-after"]) <= 60
    assert 0 < int(response.headers["x-ratelimit-reset"]) <= 60


# --- the request transaction -----------------------------------------------------------


async def test_request_transaction_is_committed_before_the_response(
    started_app: FastAPI, settings: Settings
) -> None:
    """When the status line leaves, the work is already visible to other connections."""
    observer = create_async_engine(settings.resolved_database_url)
    seen_at_response_start: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            async with observer.connect() as connection:
                count = await connection.execute(text("SELECT count(*) FROM _probe"))
                seen_at_response_start.append(int(count.scalar_one()))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/_test/write",
        "raw_path": b"/_test/write",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    try:
        await started_app(scope, receive, send)
    finally:
        await observer.dispose()
    assert seen_at_response_start == [1]


# --- health ----------------------------------------------------------------------------


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness(backend: str, client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


@pytest.mark.parametrize(
    "unreachable_url",
    [
        "sqlite+aiosqlite:////nonexistent-dir/for/echo-ai.db",
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    ],
)
async def test_readiness_fails_when_database_unreachable(
    started_app: FastAPI, client: httpx.AsyncClient, unreachable_url: str
) -> None:
    runtime = started_app.state.service.runtime
    working = runtime.engine
    runtime.engine = create_async_engine(unreachable_url)
    try:
        response = await client.get("/health/ready")
        live = await client.get("/health")
    finally:
        await runtime.engine.dispose()
        runtime.engine = working
    error = assert_error(response, 503, "not_ready")
    assert error["details"] == {"checks": {"database": "failed"}}
    assert "nobody" not in response.text and "nonexistent" not in response.text
    assert live.status_code == 200  # liveness does not depend on the database


# --- the serve command -----------------------------------------------------------------


def test_serve_help() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "--host" in result.output and "--port" in result.output


def test_serve_refuses_weak_secret(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", "too-short")
    result = CliRunner().invoke(cli_app, ["serve", "--port", "1"])
    assert result.exit_code != 0
    assert "Secret key is too short" in result.output
    assert "Traceback" not in result.output


@pytest.mark.long
def test_serve_starts_on_a_fresh_machine(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ECHO_AI_") and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env["ECHO_AI_DATA_DIR"] = str(tmp_path / "fresh")
    server = ServeProcess(env, cwd=tmp_path)
    base = server.url
    try:
        response = httpx.get(f"{base}/health", timeout=30)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert "server" not in response.headers
        assert response.headers[REQUEST_ID_HEADER]
        ready = httpx.get(f"{base}/health/ready", timeout=30)
        assert ready.status_code == 200
        big = httpx.post(f"{base}/health", content=b"x" * 1_000_001, timeout=30)
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "payload_too_large"
        assert (tmp_path / "fresh" / "secret_key").stat().st_mode & 0o077 == 0
    finally:
        server.stop()
    output = server.output
    assert f"listening on {base}" in output
    assert f"{base}/docs" in output
    # Everything the server itself logs is one JSON object per line, uvicorn's lines too.
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any("Uvicorn running" in entry["event"] for entry in logged)
    assert not [line for line in output.splitlines() if line.startswith("INFO:")]
