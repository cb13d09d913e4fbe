"""Moving-window rate limits, on memory storage and on the real Redis when reachable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from echo_ai.security.rate_limit import (
    RateLimited,
    RateLimiter,
    RateLimitResult,
    enforce_rate_limit,
)
from tests.servers import REDIS_URL, redis_unreachable


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield RateLimiter()
        return
    reason = redis_unreachable()
    if reason:
        pytest.skip(reason)
    redis_limiter = RateLimiter(REDIS_URL, key_prefix=f"echo-ai-test-{uuid.uuid4().hex}")
    assert not redis_limiter.uses_memory
    try:
        yield redis_limiter
    finally:
        await redis_limiter.reset()


async def test_counts_down_then_refuses(limiter: RateLimiter) -> None:
    results = [await limiter.hit("ip:10.0.0.1", "3/minute") for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert all(r.limit == 3 for r in results)
    assert 0 < results[-1].reset_after_seconds <= 60


async def test_keys_and_limits_are_independent(limiter: RateLimiter) -> None:
    assert (await limiter.hit("a", "1/minute")).allowed
    assert not (await limiter.hit("a", "1/minute")).allowed
    assert (await limiter.hit("b", "1/minute")).allowed
    assert (await limiter.hit("a", "5/hour")).allowed


async def test_peek_says_what_a_hit_would_get_without_counting(limiter: RateLimiter) -> None:
    for _ in range(3):
        peeked = await limiter.peek("ip:10.0.0.2", "2/minute")
        assert (peeked.allowed, peeked.remaining) == (True, 2)
    await limiter.hit("ip:10.0.0.2", "2/minute")
    await limiter.hit("ip:10.0.0.2", "2/minute")
    peeked = await limiter.peek("ip:10.0.0.2", "2/minute")
    assert (peeked.allowed, peeked.remaining) == (False, 0)
    assert 1 <= int(peeked.headers["Retry-After"]) <= 60


async def test_enforce_raises_rate_limited_with_headers(limiter: RateLimiter) -> None:
    first = await enforce_rate_limit(limiter, "user-1", "2 per minute", name="login")
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert "Retry-After" not in first.headers
    await enforce_rate_limit(limiter, "user-1", "2 per minute", name="login")
    with pytest.raises(RateLimited) as caught:
        await enforce_rate_limit(limiter, "user-1", "2 per minute", name="login")
    error = caught.value
    assert error.status_code == 429
    assert error.code == "rate_limited"
    assert error.headers["X-RateLimit-Limit"] == "2"
    assert error.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(error.headers["Retry-After"]) <= 60
    assert 1 <= int(error.headers["X-RateLimit-Reset"]) <= 60
    # Another name is another counter for the same key.
    await enforce_rate_limit(limiter, "user-1", "2 per minute", name="register")


async def test_storage_check(limiter: RateLimiter) -> None:
    assert await limiter.check()


def test_retry_after_is_at_least_one_second() -> None:
    result = RateLimitResult(allowed=False, limit=1, remaining=0, reset_after_seconds=0.01)
    assert result.headers["Retry-After"] == "1"


def test_unsupported_storage_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        RateLimiter("mongodb://localhost")


def test_invalid_limit_is_refused() -> None:
    from echo_ai.security.rate_limit import rate_limit

    with pytest.raises(ValueError, match="parse rate limit"):
        rate_limit("often", name="x")
