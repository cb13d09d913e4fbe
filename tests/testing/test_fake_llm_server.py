"""The fake LLM server's generic behaviour, over raw HTTP (the adapters' tests cover SDKs)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from echo_ai.testing.fake_llm import FakeLLMConfig, FakeLLMServer, create_app
from tests.kit import wait_until_sync

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "best CRM?"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


@pytest.fixture
def fake(server: FakeLLMServer) -> FakeLLMServer:
    server.reset()
    return server


def _post(fake: FakeLLMServer) -> httpx.Response:
    return httpx.post(f"{fake.base_url}{CHAT}", json=BODY, timeout=10)


def test_every_vendor_has_routes() -> None:
    paths = {getattr(route, "path", "") for route in create_app().routes}
    assert {"/v1/chat/completions", "/v1/responses", "/chat/completions", "/v1/messages"} <= paths
    assert any("generateContent" in path for path in paths)


def test_answers_and_logs_each_request(fake: FakeLLMServer) -> None:
    response = _post(fake)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]
    assert fake.request_count == 1
    assert fake.requests == [(CHAT, BODY)]


def test_bad_json_is_a_400_in_the_vendor_shape(fake: FakeLLMServer) -> None:
    response = httpx.post(f"{fake.base_url}{CHAT}", content=b"{not json", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.request_count == 1


def test_script_is_consumed_before_random_rates(fake: FakeLLMServer) -> None:
    fake.config.error_rate = 1.0
    fake.config.script = ["ok", "401", "429"]
    fake.config.retry_after_seconds = 4
    statuses = [_post(fake) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 401, 429]
    assert statuses[2].headers["retry-after"] == "4"
    assert statuses[3].status_code in (500, 503)
    assert fake.config.script == []


def test_quota_exhausted_uses_insufficient_quota(fake: FakeLLMServer) -> None:
    fake.config.quota_exhausted = True
    response = _post(fake)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"


def test_malformed_body_is_truncated_json(fake: FakeLLMServer) -> None:
    fake.config.script = ["malformed"]
    response = _post(fake)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_rates_are_reproducible_for_a_seed(fake: FakeLLMServer) -> None:
    def outcomes() -> list[int]:
        fake.reset(FakeLLMConfig(seed=9, rate_limit_rate=0.3, error_rate=0.3))
        return [_post(fake).status_code for _ in range(20)]

    first = outcomes()
    assert first == outcomes()
    assert 200 in first
    assert 429 in first
    assert {500, 503} & set(first)


def test_answers_are_reproducible_for_a_seed(fake: FakeLLMServer) -> None:
    fake.reset(FakeLLMConfig(seed=3))
    first = [_post(fake).json()["choices"][0]["message"]["content"] for _ in range(3)]
    fake.reset(FakeLLMConfig(seed=3))
    again = [_post(fake).json()["choices"][0]["message"]["content"] for _ in range(3)]
    assert first == again
    assert len(set(first)) > 1


def test_latency_is_applied(fake: FakeLLMServer) -> None:
    fake.config.latency_ms = 150
    started = time.perf_counter()
    _post(fake)
    assert time.perf_counter() - started >= 0.15


def test_configured_brands_drive_the_answer(fake: FakeLLMServer) -> None:
    fake.config.brands = [("Acme", 1.0), ("Globex", 0.0)]
    text = _post(fake).json()["choices"][0]["message"]["content"]
    assert "Acme" in text
    assert "Globex" not in text


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        FakeLLMConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="teapot"):
        FakeLLMConfig(script=["ok", "teapot"])


def _wait_for_first_request(server: FakeLLMServer) -> None:
    wait_until_sync(lambda: server.request_count > 0, message="no request reached the server")


async def test_async_context_and_stop_ends_stalled_requests() -> None:
    config = FakeLLMConfig(script=["hang"], hang_seconds=30)
    async with FakeLLMServer(config) as running, httpx.AsyncClient(timeout=10) as client:
        pending = asyncio.create_task(client.post(f"{running.base_url}{CHAT}", json=BODY))
        await asyncio.to_thread(_wait_for_first_request, running)
        started = time.perf_counter()
        await asyncio.to_thread(running.stop)
        assert time.perf_counter() - started < 5
        response = await pending
        assert response.status_code == 200


async def test_release_stalled_answers_the_stalled_requests_and_later_ones_stall_again(
    fake: FakeLLMServer,
) -> None:
    fake.config = FakeLLMConfig(hang_rate=1.0, hang_seconds=60)
    async with httpx.AsyncClient(timeout=30) as client:
        stalled = asyncio.create_task(client.post(f"{fake.base_url}{CHAT}", json=BODY))
        await asyncio.to_thread(_wait_for_first_request, fake)
        fake.release_stalled()
        response = await stalled
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"]

        later = asyncio.create_task(client.post(f"{fake.base_url}{CHAT}", json=BODY))
        await asyncio.to_thread(
            wait_until_sync, lambda: fake.request_count == 2, message="no second request"
        )
        assert not later.done()  # it stalls (a minute) until released in turn
        fake.release_stalled()
        assert (await later).status_code == 200


def test_server_cannot_start_twice(fake: FakeLLMServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        fake.start()
