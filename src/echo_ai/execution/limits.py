"""Outbound limits: iterations in flight per provider, and calls per minute per provider/model.

The concurrency slot is held for a whole iteration, retries and their back-off included,
so a vendor that is rate limiting us sees fewer calls, not more. The rate limit applies to
every attempt.

The concurrency limit is per process. The calls-per-minute limit is per process too unless
a Redis URL is given: then every worker shares one schedule per provider/model in Redis, so
any number of workers together stay under the configured rate.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.providers.base import Completion, CompletionRequest, Provider

if TYPE_CHECKING:  # redis (and the OpenTelemetry it loads) only for a shared limit
    import redis.asyncio

REDIS_KEY_PREFIX = "echo-ai:outbound-rate"
"""Shared limiter keys are ``{REDIS_KEY_PREFIX}:{vendor}:{model}``."""


class RateLimiter(Protocol):
    """Waits until the caller may start its next call."""

    async def acquire(self) -> None: ...


class RateLimitUnavailable(RuntimeError):
    """The shared (Redis) rate limiter could not be asked; no call is made without it."""


class MinuteRateLimiter:
    """Spaces calls evenly so that no more than ``per_minute`` start in any minute.

    Even spacing (rather than a burst then a wait) keeps the vendor's own limiter happy,
    which usually refills continuously. This one counts only this process's calls.
    """

    def __init__(self, per_minute: int, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
        delay = start - now
        if delay > 0:
            await self._clock.sleep(delay)


# One atomic step on Redis's clock (the one clock every worker shares), in microseconds:
# the next free start is max(now, stored); the slot after it is stored back with an expiry
# a little past that slot, so idle keys vanish; the reply is how long the caller waits.
# Microseconds since the epoch (~1.8e15) are exact in Lua's doubles (< 2^53).
_ACQUIRE_LUA = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local margin_ms = tonumber(ARGV[2])
local start = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if start < now then
  start = now
end
local next_start = start + interval
local ttl_ms = math.ceil((next_start - now) / 1000) + margin_ms
redis.call('SET', KEYS[1], string.format('%d', next_start), 'PX', ttl_ms)
return start - now
"""

_EXPIRY_MARGIN_MS = 1_000


class RedisMinuteRateLimiter:
    """Like :class:`MinuteRateLimiter`, but the schedule lives in Redis under ``key``.

    Every process using the same key shares one schedule: each ``acquire`` atomically takes
    the next free start slot (on Redis's clock) and sleeps until it. If Redis cannot be
    reached, ``acquire`` raises :class:`RateLimitUnavailable` rather than running unlimited.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        key: str,
        per_minute: int,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.key = key
        self.interval = 60.0 / per_minute
        self._clock = clock
        # Whole microseconds, rounded up so the rate is never exceeded.
        self._interval_us = -(-60_000_000 // per_minute)
        # EVALSHA, loading the script on NOSCRIPT (e.g. after a Redis restart).
        self._script = client.register_script(_ACQUIRE_LUA)

    async def acquire(self) -> None:
        from redis.exceptions import RedisError

        try:
            wait_us = await self._script(
                keys=[self.key], args=[self._interval_us, _EXPIRY_MARGIN_MS]
            )
        except RedisError as error:
            raise RateLimitUnavailable(
                f"shared rate limit for {self.key!r} unavailable, Redis error: {error}"
            ) from error
        delay = int(wait_us) / 1_000_000
        if delay > 0:
            await self._clock.sleep(delay)


def redis_rate_key(vendor: str, model: str) -> str:
    return f"{REDIS_KEY_PREFIX}:{vendor}:{model}"


@dataclass
class ProviderLimits:
    """Per-process registry of limits, shared by every batch that calls the same provider.

    With ``redis_url`` the calls-per-minute limits are shared by every process using that
    Redis (through one client, created on first use); call :meth:`aclose` at shutdown.
    """

    concurrency: int
    requests_per_minute: int | None = None
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False)
    _semaphores: dict[str, asyncio.Semaphore] = field(default_factory=dict, init=False)
    _rate_limiters: dict[tuple[str, str], RateLimiter] = field(default_factory=dict, init=False)
    _redis: redis.asyncio.Redis | None = field(default=None, init=False, repr=False)

    def semaphore(self, vendor: str) -> asyncio.Semaphore:
        if vendor not in self._semaphores:
            self._semaphores[vendor] = asyncio.Semaphore(self.concurrency)
        return self._semaphores[vendor]

    def rate_limiter(self, vendor: str, model: str) -> RateLimiter | None:
        if self.requests_per_minute is None:
            return None
        key = (vendor, model)
        if key not in self._rate_limiters:
            limiter: RateLimiter
            if self.redis_url is None:
                limiter = MinuteRateLimiter(self.requests_per_minute, clock=self.clock)
            else:
                limiter = RedisMinuteRateLimiter(
                    self._redis_client(),
                    redis_rate_key(vendor, model),
                    self.requests_per_minute,
                    clock=self.clock,
                )
            self._rate_limiters[key] = limiter
        return self._rate_limiters[key]

    def wrap(self, provider: Provider, model: str) -> Provider:
        limiter = self.rate_limiter(provider.name, model)
        return provider if limiter is None else RateLimitedProvider(provider, limiter)

    async def aclose(self) -> None:
        """Close the Redis client, if one was opened; a later use opens a new one."""
        client, self._redis = self._redis, None
        if client is not None:
            self._rate_limiters.clear()
            await client.aclose()

    def _redis_client(self) -> redis.asyncio.Redis:
        import redis.asyncio

        if self._redis is None:
            assert self.redis_url is not None
            # Bounded timeouts: an unreachable Redis fails the acquire instead of hanging.
            self._redis = redis.asyncio.Redis.from_url(
                self.redis_url, socket_connect_timeout=5, socket_timeout=5
            )
        return self._redis


class RateLimitedProvider:
    """A provider whose every call waits for its turn under the calls-per-minute cap."""

    def __init__(self, inner: Provider, rate_limiter: RateLimiter) -> None:
        self.inner = inner
        self.name = inner.name
        self._rate_limiter = rate_limiter

    async def complete(self, request: CompletionRequest) -> Completion:
        await self._rate_limiter.acquire()
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
