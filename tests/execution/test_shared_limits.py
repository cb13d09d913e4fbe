"""Calls-per-minute limits shared through the real Redis (127.0.0.1:6379 by default).

Every test uses its own random key prefix and deletes its keys. When Redis is not
reachable these tests are skipped with the reason shown.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio

from echo_ai.execution.limits import (
    ProviderLimits,
    RateLimitedProvider,
    RateLimitUnavailable,
    RedisMinuteRateLimiter,
    redis_rate_key,
)
from echo_ai.providers.base import Completion, CompletionRequest
from tests.kit import InstantClock, wait_until
from tests.servers import REDIS_URL, redis_unreachable

# Slack for starts measured on the local clock (a sleep may wake a little late); the
# starts Redis granted are exact.
JITTER = 0.004


needs_redis = pytest.mark.skipif(redis_unreachable() is not None, reason=redis_unreachable() or "")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A random key prefix; every key under it is deleted afterwards."""
    prefix = f"echo-ai-test:{uuid.uuid4().hex}"
    yield prefix
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class _Echo:
    """Records when each call started: on the local clock, or (with ``started_at``) at
    the start Redis granted it."""

    def __init__(self, name: str, started_at: Callable[[], Awaitable[float]] | None = None) -> None:
        self.name = name
        self.started_at = started_at
        self.started: list[float] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        started = time.monotonic() if self.started_at is None else await self.started_at()
        self.started.append(started)
        return Completion(
            text="ok", model_version=None, input_tokens=None, output_tokens=None, latency_ms=0
        )

    async def aclose(self) -> None:
        return None


async def _redis_now(client: redis.asyncio.Redis) -> float:
    seconds, microseconds = await client.time()
    return seconds + microseconds / 1_000_000


def _granted_start(
    client: redis.asyncio.Redis, key: str, interval: float
) -> Callable[[], Awaitable[float]]:
    """The start Redis granted the latest call on ``key`` (its clock, in seconds): the key
    holds the slot after it. Exact however late the machine ran the call, as long as the
    calls are made one after another."""

    async def read() -> float:
        return int(await client.get(key)) / 1_000_000 - interval

    return read


@needs_redis
async def test_workers_with_separate_clients_share_one_spacing(prefix: str) -> None:
    key = f"{prefix}:openai:gpt-4o-mini"
    clients = [redis.asyncio.Redis.from_url(REDIS_URL) for _ in range(3)]
    try:
        # Sleeps return at once: each call's start is the one Redis granted it, read back.
        clock = InstantClock()
        limiters = [RedisMinuteRateLimiter(client, key, 3_000, clock=clock) for client in clients]
        granted = _granted_start(clients[0], key, 0.02)
        started: list[float] = []
        begin = await _redis_now(clients[0])
        for i in range(15):  # the workers take turns
            await limiters[i % 3].acquire()
            started.append(await granted())
        started.sort()
        gaps = [b - a for a, b in itertools.pairwise(started)]
        assert min(gaps) >= 0.02 - JITTER
        assert started[-1] - begin >= 14 * 0.02 - JITTER
        assert started[-1] - begin < 14 * 0.02 + 0.25  # spaced, not stalled
    finally:
        for client in clients:
            await client.aclose()


_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import redis.asyncio
    from echo_ai.execution.limits import RedisMinuteRateLimiter

    url, key, per_minute, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(url)
        limiter = RedisMinuteRateLimiter(client, key, per_minute)
        await client.ping()
        print("ready", flush=True)
        end = float(sys.stdin.readline())
        started = []

        async def loop() -> None:
            while True:
                await limiter.acquire()
                now = time.time()
                if now >= end:
                    return
                started.append(now)

        await asyncio.gather(*(loop() for _ in range(tasks)))
        await client.aclose()
        print(json.dumps(started), flush=True)

    asyncio.run(main())
    """
)


@needs_redis
def test_processes_together_stay_under_the_rate(prefix: str) -> None:
    key = f"{prefix}:anthropic:claude"
    per_minute, window = 600, 2.0  # one start every 100 ms: at most 20 (+1) in 2 s
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, REDIS_URL, key, str(per_minute), "3"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        begin = time.time()
        end = begin + window
        for worker in workers:  # release every worker before waiting for any
            assert worker.stdin is not None
            worker.stdin.write(f"{end}\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=10)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [worker.returncode for worker in workers] == [0, 0, 0]
    per_worker = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
    assert all(per_worker), "every process got some turns"
    started = sorted(t for times in per_worker for t in times)
    limit = int(per_minute * window / 60)
    assert all(begin <= t < end for t in started)
    assert len(started) <= limit + 1  # never over the rate
    assert len(started) >= 0.8 * limit  # and not needlessly under it
    # Nor over it in any one-second window.
    per_second = per_minute // 60
    for i, t in enumerate(started):
        assert sum(1 for u in started[i:] if u < t + 1.0) <= per_second + 1


async def _gone(client: redis.asyncio.Redis, key: str) -> bool:
    return await client.exists(key) == 0


@needs_redis
async def test_idle_keys_expire(prefix: str) -> None:
    key = f"{prefix}:openai:gpt-4o"
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        limiter = RedisMinuteRateLimiter(client, key, 6_000)  # 10 ms
        await limiter.acquire()
        await limiter.acquire()
        ttl_ms = await client.pttl(key)
        assert 0 < ttl_ms <= 10 + 10 + 1_000 + 1  # the next slot plus a small margin
        await wait_until(lambda: _gone(client, key), within=ttl_ms / 1000 + 5)
        assert await client.exists(key) == 0
        # An expired key just means the next call may start at once.
        begin = time.monotonic()
        await limiter.acquire()
        assert time.monotonic() - begin < 0.05
    finally:
        await client.aclose()


@needs_redis
async def test_provider_limits_with_redis_share_the_rate_between_workers(prefix: str) -> None:
    # Keys are fixed as echo-ai:outbound-rate:{vendor}:{model}; a random vendor isolates us.
    vendor_name = prefix.replace(":", "-")
    key = redis_rate_key(vendor_name, "m")
    # Sleeps return at once: each call's start is the one Redis granted it, read back.
    clock = InstantClock()
    workers = [
        ProviderLimits(concurrency=10, requests_per_minute=3_000, redis_url=REDIS_URL, clock=clock)
        for _ in range(2)
    ]
    checker = redis.asyncio.Redis.from_url(REDIS_URL)
    vendor = _Echo(vendor_name, started_at=_granted_start(checker, key, 0.02))
    try:
        limiter = workers[0].rate_limiter(vendor_name, "m")
        assert isinstance(limiter, RedisMinuteRateLimiter)
        assert limiter.key == key == f"echo-ai:outbound-rate:{vendor_name}:m"
        assert workers[0].rate_limiter(vendor_name, "m") is limiter
        other = workers[0].rate_limiter(vendor_name, "m2")
        assert isinstance(other, RedisMinuteRateLimiter)
        assert other is not limiter
        assert REDIS_URL not in repr(workers[0])

        providers = [limits.wrap(vendor, "m") for limits in workers]
        assert all(isinstance(p, RateLimitedProvider) for p in providers)
        request = CompletionRequest(prompt="p", model="m")
        for i in range(8):  # the workers take turns
            await providers[i % 2].complete(request)
        started = sorted(vendor.started)
        gaps = [b - a for a, b in itertools.pairwise(started)]
        assert min(gaps) >= 0.02 - JITTER
        try:
            assert await checker.exists(key) == 1
        finally:
            await checker.delete(key, redis_rate_key(vendor_name, "m2"))
            await checker.aclose()
    finally:
        for limits in workers:
            await limits.aclose()
    # Closing forgets the client; a later limiter opens a new one.
    again = workers[0].rate_limiter(vendor_name, "m")
    assert again is not None and again is not limiter
    await again.acquire()
    await workers[0].aclose()
    cleanup = redis.asyncio.Redis.from_url(REDIS_URL)
    await cleanup.delete(key)
    await cleanup.aclose()


async def test_unreachable_redis_is_an_error_not_unlimited() -> None:
    # Port 1 on the loopback: nothing listens, the connection is refused at once.
    limits = ProviderLimits(concurrency=1, requests_per_minute=60, redis_url="redis://127.0.0.1:1")
    limiter = limits.rate_limiter("openai", "gpt-4o")
    assert limiter is not None
    try:
        with pytest.raises(RateLimitUnavailable, match="echo-ai:outbound-rate:openai:gpt-4o"):
            await limiter.acquire()
        provider = limits.wrap(_Echo("openai"), "gpt-4o")
        with pytest.raises(RateLimitUnavailable):
            await provider.complete(CompletionRequest(prompt="p", model="gpt-4o"))
    finally:
        await limits.aclose()


async def test_redis_rate_must_be_positive() -> None:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        with pytest.raises(ValueError, match="at least 1"):
            RedisMinuteRateLimiter(client, "k", 0)
    finally:
        await client.aclose()
