"""The sign-in throttle (issue 9 §6) on a clock the test drives: in memory and on the real
Redis (shared by replicas), with the same policy.

Times move only when a test advances the :class:`~tests.kit.ManualClock`; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from echo_ai.security.expiring_store import MemoryStore, RedisStore
from echo_ai.security.rate_limit import RateLimited, RateLimiter
from echo_ai.security.sign_in_throttle import (
    FORGET_AFTER_SECONDS,
    KNOWN_CLIENT_SECONDS,
    SignInThrottle,
    delay_after,
)
from tests.kit import ManualClock
from tests.servers import flushed_redis

REDIS_DB = 5 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0) % 2
"""This module's Redis database (5 or 6: one per test process), flushed around each test."""

ADA = "ada@example.com"
STRANGER = "203.0.113.66"
OWNER_CLIENT = "198.51.100.7"

Opener = Callable[[ManualClock], SignInThrottle]


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for memory, or the URL of a flushed Redis database."""
    if request.param == "memory":
        yield None
        return
    with flushed_redis(REDIS_DB) as url:
        yield url


@pytest.fixture
async def open_throttle(storage: str | None) -> AsyncIterator[Opener]:
    """Opens throttles on the test's storage; several opened with Redis are replicas
    sharing one state (with a memory store, each is its own process)."""
    opened: list[SignInThrottle] = []

    def open_one(clock: ManualClock) -> SignInThrottle:
        throttle = SignInThrottle.open(storage, RateLimiter(storage), clock=clock)
        opened.append(throttle)
        return throttle

    yield open_one
    for throttle in opened:
        await throttle.aclose()


async def _refused(attempt: Awaitable[None]) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        await attempt
    return caught.value


async def _fail(throttle: SignInThrottle, client: str = STRANGER) -> None:
    await throttle.admit(ADA, client)
    await throttle.failed(ADA, client)


def test_delays_double_from_one_second_up_to_five_minutes() -> None:
    assert [delay_after(n) for n in range(14)] == [
        0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300,
    ]  # fmt: skip
    assert delay_after(10_000) == 300


async def test_a_clients_failures_make_it_wait_longer_and_longer(open_throttle: Opener) -> None:
    clock = ManualClock()
    throttle = open_throttle(clock)
    for _ in range(3):
        await _fail(throttle)  # free
    waited = []
    for _ in range(11):
        refused = await _refused(throttle.admit(ADA, STRANGER))
        wait = int(refused.headers["Retry-After"])
        assert refused.status_code == 429
        assert refused.message.endswith(f"try again in {wait} seconds")
        # Refused attempts do not lengthen the wait; a second early is still too early.
        clock.advance(wait - 1)
        assert (await _refused(throttle.admit(ADA, STRANGER))).headers["Retry-After"] == "1"
        clock.advance(1)
        await _fail(throttle)
        waited.append(wait)
    assert waited == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


async def test_the_owners_client_is_not_slowed_by_a_stranger(open_throttle: Opener) -> None:
    clock = ManualClock()
    throttle = open_throttle(clock)
    for _ in range(10):
        with contextlib.suppress(RateLimited):
            await _fail(throttle)
    await _refused(throttle.admit(ADA, STRANGER))
    await throttle.admit(ADA, OWNER_CLIENT)  # no wait at all
    await throttle.succeeded(ADA, OWNER_CLIENT)
    await throttle.admit("bob@example.com", STRANGER)  # another account: another pair
    await _refused(throttle.admit(ADA, STRANGER))  # the stranger still waits


async def test_a_success_or_an_hour_of_quiet_starts_the_pair_afresh(
    open_throttle: Opener,
) -> None:
    clock = ManualClock()
    throttle = open_throttle(clock)
    for _ in range(3):
        await _fail(throttle, OWNER_CLIENT)
    await _refused(throttle.admit(ADA, OWNER_CLIENT))
    clock.advance(1)
    await throttle.admit(ADA, OWNER_CLIENT)  # the right password, at last
    await throttle.succeeded(ADA, OWNER_CLIENT)
    for _ in range(3):
        await _fail(throttle, OWNER_CLIENT)  # three free attempts again
    await _refused(throttle.admit(ADA, OWNER_CLIENT))

    for _ in range(3):
        await _fail(throttle)
    await _refused(throttle.admit(ADA, STRANGER))
    clock.advance(FORGET_AFTER_SECONDS)
    for _ in range(3):
        await _fail(throttle)
    await _refused(throttle.admit(ADA, STRANGER))


async def test_concurrent_attempts_of_a_pair_cannot_slip_through(open_throttle: Opener) -> None:
    throttle = open_throttle(ManualClock())
    outcomes = await asyncio.gather(
        *(throttle.admit(ADA, STRANGER) for _ in range(12)), return_exceptions=True
    )
    assert sum(outcome is None for outcome in outcomes) == 3
    assert all(isinstance(o, RateLimited) for o in outcomes if o is not None)


async def test_past_the_accounts_ceiling_only_known_clients_may_try(
    open_throttle: Opener,
) -> None:
    clock = ManualClock()
    throttle = open_throttle(clock)
    await throttle.admit(ADA, OWNER_CLIENT)
    await throttle.succeeded(ADA, OWNER_CLIENT)  # the owner's usual client
    for client in (f"203.0.113.{n}" for n in range(25)):
        for _ in range(2):  # 50 failures from 25 addresses: no pair has to wait
            await _fail(throttle, client)
    refused = await _refused(throttle.admit(ADA, "192.0.2.1"))  # a new address
    assert "addresses it signed in from before" in refused.message
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    await throttle.admit(ADA, OWNER_CLIENT)  # known: still let in
    await throttle.admit("bob@example.com", "192.0.2.1")  # other accounts are open
    # Known for 30 days after its last successful sign-in.
    clock.advance(KNOWN_CLIENT_SECONDS)
    await _refused(throttle.admit(ADA, OWNER_CLIENT))


async def test_the_owners_typos_do_not_close_the_account(open_throttle: Opener) -> None:
    """Failures from an address the account signs in from are not counted against the
    account's ceiling: only strangers' are."""
    clock = ManualClock()
    throttle = open_throttle(clock)
    await throttle.admit(ADA, OWNER_CLIENT)
    await throttle.succeeded(ADA, OWNER_CLIENT)
    for _ in range(60):  # more than the ceiling, each after its pair's delay
        clock.advance(300)
        await _fail(throttle, OWNER_CLIENT)
    await throttle.admit(ADA, "192.0.2.1")  # a new address may still try


async def test_replicas_share_one_state_through_redis() -> None:
    clock = ManualClock()
    with flushed_redis(REDIS_DB) as url:
        first = SignInThrottle.open(url, RateLimiter(url), clock=clock)
        second = SignInThrottle.open(url, RateLimiter(url), clock=clock)
        await _replicas_share_one_state(first, second, clock)


async def _replicas_share_one_state(
    first: SignInThrottle, second: SignInThrottle, clock: ManualClock
) -> None:
    try:
        assert isinstance(first.store, RedisStore)
        for replica in (first, second, first):
            await _fail(replica)
        await _refused(second.admit(ADA, STRANGER))
        clock.advance(1)
        await second.admit(ADA, STRANGER)
        await second.succeeded(ADA, STRANGER)
        for _ in range(3):
            await first.admit(ADA, STRANGER)  # cleared for both
    finally:
        await first.aclose()
        await second.aclose()


async def test_the_memory_store_expires_and_stays_bounded() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_entries=3)
    assert await store.swap("a", None, "1", ttl_seconds=10)
    assert not await store.swap("a", None, "2", ttl_seconds=10)  # not what was read
    assert await store.swap("a", "1", "2", ttl_seconds=10)
    clock.advance(10)
    assert await store.get("a") is None
    for key in "bcde":
        await store.put(key, key, ttl_seconds=10)
    assert [await store.get(key) for key in "bcde"] == [None, "c", "d", "e"]
