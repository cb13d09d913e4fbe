"""Log lines are JSON and carry the ids of the request that wrote them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient

from echo_ai.api.auth import CurrentPrincipal
from echo_ai.config import ObservabilitySettings, Settings
from echo_ai.observability import bind_context, bound_context, configure_logging, log_context
from tests.kit import register_and_login, wait_until_sync
from tests.live import LiveServer, http_client


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    @app.get("/test-only/log")
    async def write_a_line(principal: CurrentPrincipal) -> dict[str, str]:
        logging.getLogger("echo_ai.tests").info("probe from %s", "stdlib")
        structlog.get_logger("echo_ai.tests").info("probe from structlog", extra_field=1)
        return {"workspace_id": str(principal.workspace_id)}

    return app


async def test_request_log_lines_carry_the_request_and_workspace_ids(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = await register_and_login(client)
    capsys.readouterr()
    response = await client.get(
        "/test-only/log", headers={**headers, "X-Request-ID": "req-abc-123"}
    )
    assert response.status_code == 200
    workspace_id = response.json()["workspace_id"]
    lines = [line for line in _lines(capsys.readouterr().err) if "probe" in line["event"]]
    assert [line["event"] for line in lines] == ["probe from stdlib", "probe from structlog"]
    for line in lines:
        assert line["request_id"] == "req-abc-123"
        assert line["workspace_id"] == workspace_id
        assert line["level"] == "info" and line["logger"] == "echo_ai.tests"
        assert line["timestamp"].endswith("Z")
    assert lines[1]["extra_field"] == 1
    # The ids end with the request: nothing leaks into the next one (or into the test).
    assert log_context() == {}


async def test_a_generated_request_id_is_the_one_logged(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = await register_and_login(client)
    capsys.readouterr()
    response = await client.get("/test-only/log", headers=headers)
    lines = _lines(capsys.readouterr().err)
    logged = {line.get("request_id") for line in lines if line["event"].startswith("probe")}
    assert logged == {response.headers["X-Request-ID"]}


@pytest.fixture
def uvicorn_access() -> Iterator[logging.Logger]:
    """``uvicorn.access`` with a handler of its own, as uvicorn's logging config leaves it."""
    logger = logging.getLogger("uvicorn.access")
    own = logging.StreamHandler()
    logger.addHandler(own)
    logger.propagate = False
    yield logger
    logger.removeHandler(own)
    logger.propagate = True


def test_server_loggers_and_tracebacks_are_json(
    settings: Settings, capsys: pytest.CaptureFixture[str], uvicorn_access: logging.Logger
) -> None:
    found = (list(uvicorn_access.handlers), list(logging.getLogger().handlers))
    restore = configure_logging(settings)
    configure_logging(settings)  # idempotent: still one line per record
    try:
        with bound_context(batch_run_id="b-1", experiment_id=None):
            uvicorn_access.info('127.0.0.1 - "GET / HTTP/1.1" 200')
            try:
                raise ValueError("no good")
            except ValueError:
                logging.getLogger("echo_ai.x").exception("failed with secret=%s", "s3cr3t")
        err = capsys.readouterr().err
    finally:
        restore()
    lines = _lines(err)
    assert len(lines) == 2 and len(err.strip().splitlines()) == 2
    assert lines[0]["logger"] == "uvicorn.access" and lines[0]["batch_run_id"] == "b-1"
    assert "experiment_id" not in lines[0]
    exception = lines[1]["exception"][0]
    assert exception["exc_type"] == "ValueError"
    assert all("locals" not in frame for frame in exception["frames"])
    assert log_context() == {}
    # Restored: uvicorn's own handler again, and nothing of ours on the root logger.
    assert not uvicorn_access.propagate
    assert (uvicorn_access.handlers, logging.getLogger().handlers) == found


def test_console_format_and_level(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    quiet = settings.model_copy(
        update={"observability": ObservabilitySettings(log_format="console", log_level="WARNING")}
    )
    restore = configure_logging(quiet)
    try:
        logging.getLogger("echo_ai.x").info("hidden")
        logging.getLogger("echo_ai.x").warning("shown")
        err = capsys.readouterr().err
    finally:
        restore()
    assert "hidden" not in err and "shown" in err and not err.startswith("{")


def test_the_api_puts_the_logging_configuration_back_at_shutdown(app: FastAPI) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert len(root.handlers) == len(before[0]) + 1
    assert (list(root.handlers), root.level) == before


def test_log_context_is_plain_strings_for_celery() -> None:
    with bound_context(experiment_id=42):
        bind_context(batch_run_id="b")
        assert log_context() == {"experiment_id": "42", "batch_run_id": "b"}
    assert log_context() == {"batch_run_id": "b"}  # bound outside the block: kept
    structlog.contextvars.clear_contextvars()


def test_the_access_log_hides_the_secrets_of_mailed_links(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = {
        "/reset-password?token=echo_pr_SECRET1": "/reset-password?token=[redacted]",
        "/verify-email?token=SECRET2&next=/x": "/verify-email?token=[redacted]&next=/x",
        "/confirm-email?TOKEN=SECRET3": "/confirm-email?TOKEN=[redacted]",
        "/v1/account/exports/00000000-0000-0000-0000-000000000000/download?token=SECRET4": (
            "/v1/account/exports/00000000-0000-0000-0000-000000000000/download?token=[redacted]"
        ),
        "/invitations/SECRET5": "/invitations/[redacted]",
        "/login?next=/brands": "/login?next=/brands",
    }
    logged: list[str] = []

    def access_lines() -> list[str]:
        logged.extend(
            line["event"]
            for line in _lines(capsys.readouterr().err)
            if line.get("logger") == "uvicorn.access"
        )
        return logged

    with http_client(live_server) as client:
        for target in targets:
            client.get(target)
    wait_until_sync(lambda: len(access_lines()) >= len(targets), within=30)
    text = "\n".join(logged)
    assert "SECRET" not in text
    for shown in targets.values():
        assert f" {shown} HTTP/1.1" in text
