"""``/metrics`` on the API: hidden without a token, guarded with one, and what it counts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from echo_ai.config import ObservabilitySettings, Settings
from echo_ai.db import create_engine
from echo_ai.observability import record_iteration, watch_process
from echo_ai.security.rate_limit import RateLimited, RateLimiter, enforce_rate_limit
from tests.kit import register_and_login
from tests.observability.helpers import run_experiment, samples, value

TOKEN = "metrics-token-for-tests"


async def test_metrics_are_not_served_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


class TestWithAToken:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={"observability": ObservabilitySettings(metrics_token=TOKEN)}
        )

    @pytest.mark.parametrize(
        "authorization", [None, "Bearer wrong", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}"]
    )
    async def test_a_wrong_or_missing_token_is_401(
        self, client: httpx.AsyncClient, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "not_authenticated"
        assert "iterations_total" not in response.text

    async def test_not_in_the_openapi_schema(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/metrics" not in paths

    async def test_route_templates_iterations_and_the_pool_after_an_experiment(
        self, client: httpx.AsyncClient
    ) -> None:
        before = samples()
        headers = await register_and_login(client)
        done = await run_experiment(client, headers)
        assert done["status"] == "completed"
        await client.get("/no/such/page")

        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        after = samples(response.text)

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        http = "http_request_duration_seconds_count"
        assert grew(http, method="POST", route="/v1/experiments", status="202") == 1
        polls = grew(http, method="GET", route="/v1/experiments/{experiment_id}", status="200")
        assert polls >= 1
        assert grew(http, method="GET", route="unmatched", status="404") == 1
        routes = {dict(labels).get("route") for name, labels in after if name == http}
        assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", route or "") for route in routes)

        model = done["providers"][0]["model"]
        iterations = grew("iterations_total", provider="demo", model=model, outcome="success")
        assert iterations == 5
        llm = "llm_request_duration_seconds_count"
        assert grew(llm, provider="demo", model=model) == 5
        # The embedded SQLite engine has a (small) queue pool too; the batch is over.
        assert value(after, "db_pool_size") >= 1
        assert value(after, "executor_queue_depth") == 0
        assert value(after, "db_pool_checked_out") >= 0


def test_iteration_outcomes_latency_and_cost() -> None:
    before = samples()
    record_iteration("openai", "gpt-test", "success", 1.5, 0.25)
    record_iteration("openai", "gpt-test", "rate_limited", None, None)
    after = samples()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    labels = {"provider": "openai", "model": "gpt-test"}
    assert grew("iterations_total", outcome="success", **labels) == 1
    assert grew("iterations_total", outcome="rate_limited", **labels) == 1
    assert grew("llm_request_duration_seconds_count", **labels) == 1
    assert grew("llm_request_duration_seconds_bucket", le="2.0", **labels) == 1
    assert grew("llm_request_duration_seconds_bucket", le="1.0", **labels) == 0
    assert grew("llm_cost_usd_total", **labels) == pytest.approx(0.25)


async def test_quota_refusals_are_counted_by_limit_name() -> None:
    limiter = RateLimiter()
    name = "test-quota"
    before = value(samples(), "quota_refusals_total", limit=name)
    await enforce_rate_limit(limiter, "k", "1/minute", name=name)
    with pytest.raises(RateLimited):
        await enforce_rate_limit(limiter, "k", "1/minute", name=name)
    assert value(samples(), "quota_refusals_total", limit=name) == before + 1


@pytest.fixture
async def runtime_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


def test_a_local_queue_is_reported_while_watched_and_dropped_after(
    settings: Settings, runtime_engine: AsyncEngine
) -> None:
    unwatch = watch_process(settings, engine=runtime_engine, local_queue=lambda: 3)
    try:
        assert value(samples(), "executor_queue_depth") == 3
    finally:
        unwatch()
    assert ("executor_queue_depth", frozenset()) not in samples()
