"""Retries against the fake server: what is retried, how long we wait, how many requests."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from echo_ai.providers.base import (
    AuthenticationFailed,
    BadRequest,
    CompletionRequest,
    PermissionDenied,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from echo_ai.providers.errors import MAX_RETRY_AFTER_SECONDS
from echo_ai.providers.openai import OpenAIProvider
from echo_ai.providers.retry import RetryPolicy, call_with_retries, retry_delay
from echo_ai.testing.fake_llm import FakeLLMServer

REQUEST = CompletionRequest(prompt="best CRM?", model="gpt-4o-mini")
POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=20.0, multiplier=2.0)


class RecordingSleep:
    """Stands in for asyncio.sleep so tests run instantly and can read the delays."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def provider(fake_llm: FakeLLMServer) -> AsyncIterator[OpenAIProvider]:
    adapter = OpenAIProvider(
        api_key="sk-test", base_url=f"{fake_llm.base_url}/v1", timeout_seconds=0.5
    )
    yield adapter
    await adapter.aclose()


async def _call(provider: OpenAIProvider, sleep: RecordingSleep) -> tuple[object, int]:
    return await call_with_retries(
        provider, REQUEST, policy=POLICY, sleep=sleep, rng=random.Random(0)
    )


async def test_rate_limit_waits_at_least_retry_after(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["429", "429", "ok"]
    fake_llm.config.retry_after_seconds = 3
    sleep = RecordingSleep()
    completion, attempts = await _call(provider, sleep)
    assert attempts == 3
    assert completion is not None
    assert len(sleep.delays) == 2
    assert all(delay >= 3.0 for delay in sleep.delays)
    assert fake_llm.request_count == 3


@pytest.mark.parametrize("failures", [["500"], ["503", "529"], ["hang"], ["malformed"]])
async def test_transient_failures_are_retried(
    provider: OpenAIProvider, fake_llm: FakeLLMServer, failures: list[str]
) -> None:
    fake_llm.config.script = [*failures, "ok"]
    fake_llm.config.hang_seconds = 5
    sleep = RecordingSleep()
    _, attempts = await _call(provider, sleep)
    assert attempts == len(failures) + 1
    assert fake_llm.request_count == len(failures) + 1
    for k, delay in enumerate(sleep.delays, start=1):
        assert 0.0 <= delay <= 0.5 * 2 ** (k - 1)


@pytest.mark.parametrize(
    ("outcome", "error_type"),
    [
        ("400", BadRequest),
        ("401", AuthenticationFailed),
        ("403", PermissionDenied),
        ("quota", QuotaExhausted),
    ],
)
async def test_permanent_failures_are_not_retried(
    provider: OpenAIProvider,
    fake_llm: FakeLLMServer,
    outcome: str,
    error_type: type[ProviderError],
) -> None:
    fake_llm.config.script = [outcome, "ok"]
    sleep = RecordingSleep()
    with pytest.raises(error_type):
        await _call(provider, sleep)
    assert sleep.delays == []
    assert fake_llm.request_count == 1


async def test_gives_up_after_max_attempts_without_multiplying_requests(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.error_rate = 1.0
    sleep = RecordingSleep()
    policy = RetryPolicy(max_attempts=3)
    with pytest.raises(ServerError) as caught:
        await call_with_retries(provider, REQUEST, policy=policy, sleep=sleep)
    assert fake_llm.request_count == 3, "our retries only: the SDK must not retry too"
    assert len(sleep.delays) == 2
    assert any("3 attempt" in note for note in caught.value.__notes__)


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    rng = random.Random(42)
    error = ServerError("boom")
    for failures in range(1, 10):
        ceiling = min(20.0, 0.5 * 2.0 ** (failures - 1))
        samples = [retry_delay(POLICY, failures, error, rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.8 * ceiling, "jitter spans the whole window"
        assert min(samples) < 0.2 * ceiling


def test_retry_after_is_a_floor_but_bounded() -> None:
    rng = random.Random(0)
    assert retry_delay(POLICY, 1, RateLimited("slow", retry_after=12.0), rng) >= 12.0
    huge = RateLimited("slow", retry_after=10_000.0)
    assert retry_delay(POLICY, 1, huge, rng) == MAX_RETRY_AFTER_SECONDS


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="multiplier"):
        RetryPolicy(multiplier=0.5)
