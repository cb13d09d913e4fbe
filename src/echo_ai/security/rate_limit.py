"""Rate limits on the ``limits`` library, with the moving-window strategy.

The moving window counts every hit of the last period (no burst of 2x the limit across a
fixed-window boundary). Storage is in process memory by default, or Redis when a
``redis://`` URI is given, so that every API replica shares the same counters.

Routers use :func:`rate_limit` (a dependency) or :func:`enforce_rate_limit`; both raise
:class:`RateLimited`, which the API turns into a 429 with ``Retry-After`` and
``X-RateLimit-*`` headers::

    router.post("/login", dependencies=[Depends(rate_limit("10/minute", name="login"))])

    await enforce_rate_limit(limiter, f"account:{user.id}", "5/hour", name="password")
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from echo_ai.errors import AppError
from echo_ai.observability.metrics import record_quota_refusal

DEFAULT_KEY_PREFIX = "echo-ai"


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_after_seconds: float

    @property
    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` headers (and ``Retry-After`` when refused), in whole seconds."""
        reset = str(math.ceil(self.reset_after_seconds))
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": reset,
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_after_seconds)))
        return headers


class RateLimited(AppError):
    """Too many requests; ``headers`` go on the 429 response."""

    status_code = 429
    code = "rate_limited"

    def __init__(
        self,
        message: str = "too many requests, try again later",
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = dict(headers or {})


@lru_cache(maxsize=256)
def _parse(limit: str) -> RateLimitItem:
    return parse(limit)


def _storage_uri(storage_uri: str | None) -> str:
    if not storage_uri or storage_uri.startswith("memory://"):
        return "async+memory://"
    if storage_uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return "async+" + storage_uri
    if storage_uri.startswith("async+"):
        return storage_uri
    raise ValueError(f"unsupported rate-limit storage {storage_uri.split('://')[0]!r}")


class RateLimiter:
    """Moving-window limits keyed by any string (an IP, an account, a workspace...).

    ``limit`` strings use the ``limits`` notation: ``"10/minute"``, ``"100 per hour"``.
    Limit strings and keys are combined, so the same key may carry several limits.
    """

    def __init__(
        self, storage_uri: str | None = None, *, key_prefix: str = DEFAULT_KEY_PREFIX
    ) -> None:
        uri = _storage_uri(storage_uri)
        options: dict[str, Any] = {}
        if not uri.startswith("async+memory"):
            # redis-py (the client Celery also uses), not limits' default coredis.
            options = {"implementation": "redispy", "key_prefix": key_prefix}
        storage = storage_from_string(uri, **options)
        if not isinstance(storage, Storage):  # pragma: no cover - "async+" URIs only
            raise TypeError(f"not an async rate-limit storage: {type(storage).__name__}")
        self.storage: Storage = storage
        self.uses_memory = isinstance(self.storage, MemoryStorage)
        self._strategy = MovingWindowRateLimiter(self.storage)
        self._key_prefix = key_prefix

    def _identifiers(self, key: str) -> tuple[str, ...]:
        return (self._key_prefix, key) if self.uses_memory else (key,)

    async def hit(self, key: str, limit: str) -> RateLimitResult:
        """Count one hit, unless the limit is already exhausted; say what is left."""
        item = _parse(limit)
        allowed = await self._strategy.hit(item, *self._identifiers(key))
        return await self._result(item, key, allowed=allowed)

    async def peek(self, key: str, limit: str) -> RateLimitResult:
        """Whether one more hit would be allowed, counting nothing."""
        return await self._result(_parse(limit), key, allowed=None)

    async def _result(
        self, item: RateLimitItem, key: str, *, allowed: bool | None
    ) -> RateLimitResult:
        stats = await self._strategy.get_window_stats(item, *self._identifiers(key))
        return RateLimitResult(
            allowed=stats.remaining > 0 if allowed is None else allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_after_seconds=max(0.0, stats.reset_time - time.time()),
        )

    async def check(self) -> bool:
        """Whether the storage answers (the readiness probe uses this for Redis)."""
        return bool(await self.storage.check())

    async def reset(self) -> None:
        """Forget every counter (under this key prefix, for Redis)."""
        await self.storage.reset()


async def enforce_rate_limit(
    limiter: RateLimiter, key: str, limit: str, *, name: str
) -> RateLimitResult:
    """Count a hit of ``limit`` for ``name:key``; raise :class:`RateLimited` when exhausted
    (counted in ``quota_refusals_total{limit=name}``)."""
    result = await limiter.hit(f"{name}:{key}", limit)
    if not result.allowed:
        record_quota_refusal(name)
        raise RateLimited(headers=result.headers)
    return result


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


def client_ip(request: Request) -> str:
    """The peer address (the proxy's, unless the server is told to trust proxy headers)."""
    return request.client.host if request.client else "unknown"


def rate_limit(
    limit: str, *, name: str, key: Callable[[Request], str] = client_ip
) -> Callable[[Request, RateLimiter], Awaitable[RateLimitResult]]:
    """A dependency limiting a route to ``limit`` per ``key(request)`` (default: per IP)."""
    _parse(limit)  # a typo in a limit fails at import, not on the first request

    async def dependency(request: Request, limiter: RateLimiterDep) -> RateLimitResult:
        return await enforce_rate_limit(limiter, key(request), limit, name=name)

    return dependency
