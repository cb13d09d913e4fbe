"""Credential guesses per client: who presents credentials we never issued is refused.

Every credential lookup (API key, access token, refresh token, session cookie,
invitation token) that refuses says why, as a
:class:`~echo_ai.security.credentials.Refusal`:

- ``Refusal.UNKNOWN``: nothing we issued looks like it (malformed, forged, or no such
  key or token). That is a *guess*, and it is counted against the client's address.
- ``Refusal.ENDED``: we issued it, but it has expired, was revoked or used, or nobody
  stands behind it any more (a removed member's key). Answered with the same 401/404, but
  not counted: its holder is not guessing. A client's access token expiring every 15
  minutes, a browser whose session ended when the password was changed elsewhere, or a
  forgotten job still sending a revoked key from the office's shared address must not
  lock that address out.

Past 30 guesses within :data:`GUESS_WINDOW` (10 minutes; the number is the setting
``auth.guesses_per_client``, ``ECHO_AI_AUTH__GUESSES_PER_CLIENT``), the client gets 429
with ``Retry-After`` on every request that carries a credential, *correct ones
included*, until the oldest guess leaves the window:
enumerating keys or tokens then costs ten minutes per 30 tries, and there is no way to
learn whether a guess would have been right. 30 is far above what a working client ever
produces (it presents issued credentials only), while every one of these credentials has
at least 128 unguessable bits, so the limit is about stopping noise and scanners early,
not about making guessing possible. Moving window, in memory or in Redis (shared by every
replica) like the other rate limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from echo_ai.observability.metrics import record_quota_refusal
from echo_ai.security.credentials import Refusal
from echo_ai.security.rate_limit import RateLimited, RateLimiter

GUESS_WINDOW = "10 minutes"


@dataclass(frozen=True)
class ClientGuesses:
    """The guesses of one client (its address), ``per_window`` allowed per
    :data:`GUESS_WINDOW`."""

    limiter: RateLimiter
    client: str
    per_window: int

    @property
    def _limit(self) -> str:
        return f"{self.per_window}/{GUESS_WINDOW}"

    @property
    def _key(self) -> str:
        return f"credential-guesses:{self.client}"

    async def refuse_if_exhausted(self) -> None:
        """:class:`RateLimited` when the client has used up its guesses (counts nothing)."""
        result = await self.limiter.peek(self._key, self._limit)
        if result.allowed:
            return
        record_quota_refusal("credential-guesses")
        seconds = max(1, math.ceil(result.reset_after_seconds))
        raise RateLimited(
            "too many unknown credentials were sent from your address: "
            f"try again in {seconds} seconds",
            headers=result.headers,
        )

    async def count(self, refusal: Refusal) -> None:
        """Count a refused credential, if it was a guess."""
        if refusal is Refusal.UNKNOWN:
            await self.limiter.hit(self._key, self._limit)
