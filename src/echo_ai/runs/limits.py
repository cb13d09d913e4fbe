"""Outbound limits: iterations in flight per provider, and calls per minute per provider/model.

The concurrency slot is held for a whole iteration, retries and their back-off included,
so a vendor that is rate limiting us sees fewer calls, not more. The rate limit applies to
every attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from echo_ai.providers.base import Completion, CompletionRequest, Provider


class MinuteRateLimiter:
    """Spaces calls evenly so that no more than ``per_minute`` start in any minute.

    Even spacing (rather than a burst then a wait) keeps the vendor's own limiter happy,
    which usually refills continuously.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
        delay = start - now
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class ProviderLimits:
    """Per-process registry of limits, shared by every batch that calls the same provider."""

    concurrency: int
    requests_per_minute: int | None = None
    _semaphores: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _rate_limiters: dict[tuple[str, str], MinuteRateLimiter] = field(default_factory=dict)

    def semaphore(self, vendor: str) -> asyncio.Semaphore:
        if vendor not in self._semaphores:
            self._semaphores[vendor] = asyncio.Semaphore(self.concurrency)
        return self._semaphores[vendor]

    def rate_limiter(self, vendor: str, model: str) -> MinuteRateLimiter | None:
        if self.requests_per_minute is None:
            return None
        key = (vendor, model)
        if key not in self._rate_limiters:
            self._rate_limiters[key] = MinuteRateLimiter(self.requests_per_minute)
        return self._rate_limiters[key]

    def wrap(self, provider: Provider, model: str) -> Provider:
        limiter = self.rate_limiter(provider.name, model)
        return provider if limiter is None else RateLimitedProvider(provider, limiter)


class RateLimitedProvider:
    """A provider whose every call waits for its turn under the calls-per-minute cap."""

    def __init__(self, inner: Provider, rate_limiter: MinuteRateLimiter) -> None:
        self.inner = inner
        self.name = inner.name
        self._rate_limiter = rate_limiter

    async def complete(self, request: CompletionRequest) -> Completion:
        await self._rate_limiter.acquire()
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
