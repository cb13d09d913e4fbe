"""Retrying provider calls: exponential backoff with full jitter, honouring ``Retry-After``.

This is the only retry layer (adapters build their SDK clients with ``max_retries=0``), so a
single failing call costs at most ``max_attempts`` requests. Only errors marked
``retryable`` (rate limits, 5xx, timeouts, unreadable bodies, dropped connections) are
retried; bad requests, auth failures and exhausted quotas fail at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from echo_ai.providers.base import Completion, CompletionRequest, Provider, ProviderError
from echo_ai.providers.errors import MAX_RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be non-negative and multiplier at least 1")


def retry_delay(
    policy: RetryPolicy, failures: int, error: ProviderError, rng: random.Random
) -> float:
    """Seconds to wait after the ``failures``-th failed attempt (1-based).

    Full jitter (uniform in [0, backoff]) spreads concurrent callers apart; a server's
    ``Retry-After`` is a floor, since retrying sooner is certain to fail again.
    """
    backoff = min(policy.max_delay, policy.base_delay * policy.multiplier ** (failures - 1))
    delay = rng.uniform(0.0, backoff)
    if error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return min(delay, max(policy.max_delay, MAX_RETRY_AFTER_SECONDS))


async def call_with_retries(
    provider: Provider,
    request: CompletionRequest,
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> tuple[Completion, int]:
    """The completion and the number of attempts it took; re-raises the last error."""
    jitter = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not security
    attempt = 1
    while True:
        try:
            return await provider.complete(request), attempt
        except ProviderError as error:
            error.attempts = attempt
            if not error.retryable or attempt >= policy.max_attempts:
                error.add_note(f"{provider.name}: gave up after {attempt} attempt(s)")
                raise
            await sleep(retry_delay(policy, attempt, error, jitter))
            attempt += 1
