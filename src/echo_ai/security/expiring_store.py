"""Small strings with an expiry, changed by compare-and-set: in memory or in Redis.

The sign-in throttle keeps its per-(account, client) state here. In process memory for
``echo-ai serve`` (one process), in Redis when ``REDIS_URL`` is set so every API replica
sees the same state. Values are changed only by :meth:`ExpiringStore.swap` (set if still
what the caller read), so two replicas handling attempts of the same pair at once cannot
both act on a stale read; the policy built on it lives in one place, in Python.

Expiry here only frees space: a value that must stop counting after some time carries
its own time (from the caller's :class:`~echo_ai.clock.Clock`), which the caller checks.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from echo_ai.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:  # redis (and the OpenTelemetry it loads) only with REDIS_URL
    import redis.asyncio

MAX_MEMORY_ENTRIES = 100_000
"""Beyond this the memory store forgets its oldest entries: attempts with made-up
addresses cannot grow a process without bound (about 20 MB at most)."""


class ExpiringStore(Protocol):
    async def get(self, key: str) -> str | None:
        """The value, or None if there is none (or it expired)."""

    async def swap(self, key: str, expected: str | None, value: str, ttl_seconds: int) -> bool:
        """Set ``value`` (for ``ttl_seconds``) if the key still holds ``expected`` (None:
        no value); whether it did."""

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        """Set ``value`` for ``ttl_seconds``, whatever was there."""

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None:
        """Release connections (at shutdown)."""


class MemoryStore:
    """One process's store; expiry by ``clock.time()``, oldest entries dropped past
    :data:`MAX_MEMORY_ENTRIES`. Each method runs without awaiting, so it is atomic."""

    def __init__(
        self, *, clock: Clock = SYSTEM_CLOCK, max_entries: int = MAX_MEMORY_ENTRIES
    ) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def get(self, key: str) -> str | None:
        return self._get(key)

    def _get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= self._clock.time():
            del self._entries[key]
            return None
        return value

    def _set(self, key: str, value: str, ttl_seconds: int) -> None:
        self._entries[key] = (value, self._clock.time() + ttl_seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def swap(self, key: str, expected: str | None, value: str, ttl_seconds: int) -> bool:
        if self._get(key) != expected:
            return False
        self._set(key, value, ttl_seconds)
        return True

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        self._set(key, value, ttl_seconds)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def aclose(self) -> None:
        self._entries.clear()


# Compare-and-set in one atomic step: '' stands for "no value" (values are never empty).
_SWAP_LUA = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


class RedisStore:
    """The store in Redis under ``key_prefix``, shared by every process using it."""

    def __init__(self, client: redis.asyncio.Redis, *, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        # EVALSHA, loading the script on NOSCRIPT (e.g. after a Redis restart).
        self._swap = client.register_script(_SWAP_LUA)

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str) -> RedisStore:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        return cls(client, key_prefix=key_prefix)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def get(self, key: str) -> str | None:
        value = await self._client.get(self._key(key))
        if isinstance(value, bytes):  # replies are bytes (no decode_responses)
            return value.decode()
        return value

    async def swap(self, key: str, expected: str | None, value: str, ttl_seconds: int) -> bool:
        done = await self._swap(keys=[self._key(key)], args=[expected or "", value, ttl_seconds])
        return bool(done)

    async def put(self, key: str, value: str, ttl_seconds: int) -> None:
        await self._client.set(self._key(key), value, ex=ttl_seconds)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._key(key))

    async def aclose(self) -> None:
        await self._client.aclose()


def open_store(
    redis_url: str | None, *, key_prefix: str, clock: Clock = SYSTEM_CLOCK
) -> ExpiringStore:
    """Redis when a URL is given (shared by replicas), else this process's memory."""
    if redis_url:
        return RedisStore.from_url(redis_url, key_prefix=key_prefix)
    return MemoryStore(clock=clock)
