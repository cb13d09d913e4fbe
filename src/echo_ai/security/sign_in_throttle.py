"""Sign-in throttling by (account, client) with growing delays, under a ceiling per account.

A lock per account lets anyone who knows an address lock its owner out with a few wrong
passwords. Here the unit is the *pair* (account, client address) instead, so a stranger
slows down only themself, while the owner signing in from their usual client is not
affected unless that client itself failed:

- **Per pair:** the first :data:`FREE_ATTEMPTS` (3) attempts go through at once. After
  that, each further attempt must wait, from the pair's previous attempt, 1, 2, 4, 8...
  seconds, doubling up to :data:`MAX_DELAY_SECONDS` (5 minutes). An attempt that comes
  too early is refused with 429 and ``Retry-After`` (the password is not even checked,
  and the refusal does not lengthen the wait). A successful sign-in clears the pair; a
  pair with no attempt for :data:`FORGET_AFTER_SECONDS` (1 hour) starts afresh. One
  address thus gets about 22 guesses in its first hour at an account and 12 an hour after
  that (~300 a day), whatever it does.
- **Per account (all clients):** at most :data:`ACCOUNT_FAILURES` (50 failures an hour)
  are accepted from clients the account has never signed in from. Past that, only
  addresses that signed in to it successfully within :data:`KNOWN_CLIENT_SECONDS` (30
  days) may still try (each under its own pair delays); the others get 429 until the
  hour's window has room. One stranger's address cannot reach 50 an hour (see above), so
  it takes a deliberate attack from several addresses to close the account to new
  clients, and even then the owner's usual client still signs in. A distributed guessing
  attack gets at most 50 guesses an hour (1,200 a day) at an account, against passwords
  of at least 12 characters.
- **Per address (all accounts):** the route's own limit, ``LOGIN_PER_IP`` (20 a minute)
  in :mod:`echo_ai.api.routers.auth`, bounds one address spraying many accounts.

Every attempt is counted as a failure when it is admitted (a compare-and-set of the
pair's state), and cleared if it succeeds: concurrent attempts of one pair cannot slip
through together. The state lives in an :mod:`~echo_ai.security.expiring_store` (memory,
or Redis shared by every replica); times come from the injected clock's ``time()``,
so tests drive them. Unknown and known email addresses are treated alike, so the
throttle reveals nothing about which accounts exist. Keys are SHA-256 digests: the
store holds no addresses.
"""

from __future__ import annotations

import hashlib
import math

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.observability.metrics import record_quota_refusal
from echo_ai.security.expiring_store import ExpiringStore, open_store
from echo_ai.security.rate_limit import RateLimited, RateLimiter

FREE_ATTEMPTS = 3
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 300.0
FORGET_AFTER_SECONDS = 3_600
ACCOUNT_FAILURES = "50/hour"
KNOWN_CLIENT_SECONDS = 30 * 24 * 3_600
REDIS_KEY_PREFIX = "echo-ai:sign-in"

_SWAP_TRIES = 5


def delay_after(attempts: int) -> float:
    """How long a pair waits, after its previous attempt, once it has made ``attempts``
    unsuccessful attempts: 0 for the first :data:`FREE_ATTEMPTS`, then 1, 2, 4... s."""
    if attempts < FREE_ATTEMPTS:
        return 0.0
    exponent = min(attempts - FREE_ATTEMPTS, 32)  # 2**32 s is past any cap
    return min(FIRST_DELAY_SECONDS * 2.0**exponent, MAX_DELAY_SECONDS)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _refused(message: str, seconds: float, limit: str) -> RateLimited:
    record_quota_refusal(limit)
    wait = max(1, math.ceil(seconds))
    return RateLimited(
        f"{message}: try again in {wait} seconds", headers={"Retry-After": str(wait)}
    )


class SignInThrottle:
    """Call :meth:`admit` before checking a password, then :meth:`failed` or
    :meth:`succeeded`."""

    def __init__(
        self, store: ExpiringStore, limiter: RateLimiter, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.clock = clock

    @classmethod
    def open(
        cls, redis_url: str | None, limiter: RateLimiter, *, clock: Clock = SYSTEM_CLOCK
    ) -> SignInThrottle:
        """The throttle on Redis when a URL is given (shared by replicas), else in memory."""
        return cls(
            open_store(redis_url, key_prefix=REDIS_KEY_PREFIX, clock=clock), limiter, clock=clock
        )

    async def aclose(self) -> None:
        await self.store.aclose()

    async def admit(self, email: str, client: str) -> None:
        """Let this attempt be checked, counting it; :class:`RateLimited` (429 with
        ``Retry-After``) if the pair must wait or the account is closed to this client."""
        await self._check_account(email, client)
        pair = f"pair:{_digest(email, client)}"
        for _ in range(_SWAP_TRIES):
            now = self.clock.time()
            stored = await self.store.get(pair)
            attempts, last = _parse(stored)
            if now - last >= FORGET_AFTER_SECONDS:
                attempts = 0
            wait = last + delay_after(attempts) - now if attempts else 0.0
            if wait > 0:
                raise _refused(
                    "too many failed sign-ins to this account from your address",
                    wait,
                    "sign-in-client",
                )
            state = f"{attempts + 1} {now!r}"
            if await self.store.swap(pair, stored, state, FORGET_AFTER_SECONDS):
                return
        # Other attempts of the same pair kept changing the state under us.
        raise _refused("too many sign-ins at once from your address", 1, "sign-in-client")

    async def failed(self, email: str, client: str) -> None:
        """Count a failure against the account's ceiling, unless it comes from an address
        the account signed in from (the owner's typos must not close the account to new
        addresses; the pair was counted on admit)."""
        if not await self._known(email, client):
            await self.limiter.hit(self._account_key(email), ACCOUNT_FAILURES)

    async def succeeded(self, email: str, client: str) -> None:
        """Clear the pair and remember the client as one the account signs in from."""
        pair = _digest(email, client)
        await self.store.delete(f"pair:{pair}")
        until = self.clock.time() + KNOWN_CLIENT_SECONDS
        await self.store.put(f"known:{pair}", repr(until), KNOWN_CLIENT_SECONDS)

    async def _check_account(self, email: str, client: str) -> None:
        ceiling = await self.limiter.peek(self._account_key(email), ACCOUNT_FAILURES)
        if ceiling.allowed or await self._known(email, client):
            return
        raise _refused(
            "too many failed sign-ins to this account; it accepts sign-ins only from "
            "addresses it signed in from before for now",
            ceiling.reset_after_seconds,
            "sign-in-account",
        )

    async def _known(self, email: str, client: str) -> bool:
        until = await self.store.get(f"known:{_digest(email, client)}")
        return until is not None and float(until) > self.clock.time()

    @staticmethod
    def _account_key(email: str) -> str:
        return f"sign-in-account:{_digest(email)}"


def _parse(stored: str | None) -> tuple[int, float]:
    """``(attempts, time of the last)`` from a stored ``"attempts time"`` (0 if none)."""
    if stored is None:
        return 0, 0.0
    attempts, last = stored.split(" ", 1)
    return int(attempts), float(last)
