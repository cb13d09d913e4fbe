from __future__ import annotations

import asyncio
import time

import pytest

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.execution.limits import (
    MinuteRateLimiter,
    ProviderLimits,
    RateLimitedProvider,
    RateLimiter,
)
from echo_ai.providers.base import Completion, CompletionRequest
from tests.kit import ManualClock


class _Echo:
    """Records when each call started, on the clock the limiter waits on."""

    name = "openai"

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.started: list[float] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.started.append(self.clock.monotonic())
        return Completion(
            text="ok", model_version=None, input_tokens=None, output_tokens=None, latency_ms=0
        )

    async def aclose(self) -> None:
        return None


async def test_calls_are_spaced_to_the_rate() -> None:
    limiter = MinuteRateLimiter(6_000)  # one call every 10 ms
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(21)))
    assert time.monotonic() - start >= 0.2 - 0.005


async def test_wrapped_provider_is_rate_limited_per_model() -> None:
    clock = ManualClock()
    limits = ProviderLimits(concurrency=10, requests_per_minute=3_000, clock=clock)  # 20 ms
    vendor = _Echo(clock)
    provider = limits.wrap(vendor, "gpt-4o-mini")
    request = CompletionRequest(prompt="p", model="gpt-4o-mini")
    await asyncio.gather(*(provider.complete(request) for _ in range(6)))
    gaps = [b - a for a, b in zip(vendor.started, vendor.started[1:], strict=False)]
    assert min(gaps) >= 0.02 - 0.003
    assert limits.rate_limiter("openai", "gpt-4o-mini") is limits.rate_limiter(
        "openai", "gpt-4o-mini"
    )
    assert limits.rate_limiter("openai", "gpt-4o") is not limits.rate_limiter(
        "openai", "gpt-4o-mini"
    )


def test_without_a_rate_the_provider_is_not_wrapped() -> None:
    vendor = _Echo()
    assert ProviderLimits(concurrency=2).wrap(vendor, "m") is vendor


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MinuteRateLimiter(0)


async def test_any_rate_limiter_can_wrap_a_provider() -> None:
    class _Counting:
        def __init__(self) -> None:
            self.calls = 0

        async def acquire(self) -> None:
            self.calls += 1

    counting = _Counting()
    limiter: RateLimiter = counting  # the protocol is all RateLimitedProvider needs
    provider = RateLimitedProvider(_Echo(), limiter)
    await provider.complete(CompletionRequest(prompt="p", model="m"))
    assert counting.calls == 1


async def test_without_redis_the_limits_stay_in_process() -> None:
    limits = ProviderLimits(2, 60)  # positional arguments keep their meaning
    assert limits.redis_url is None
    assert isinstance(limits.rate_limiter("openai", "m"), MinuteRateLimiter)
    await limits.aclose()  # nothing to close


def test_the_redis_url_is_not_shown() -> None:
    limits = ProviderLimits(2, 60, "redis://:secret@cache:6379/0")
    assert "secret" not in repr(limits)
