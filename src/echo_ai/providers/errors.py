"""Map an HTTP failure from any vendor onto our error family.

Adapters catch their SDK's status error and call :func:`from_status`, so the rules on what
is retryable live in one place: 429 and 5xx (and 529 "overloaded") are; 400/401/403 and
exhausted quotas are not.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from echo_ai.providers.base import (
    AuthenticationFailed,
    BadRequest,
    ConnectionFailed,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
)

MAX_RETRY_AFTER_SECONDS = 300.0
_QUOTA_MARKERS = ("insufficient_quota", "quota", "billing", "credit balance", "resource_exhausted")


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return _bounded(float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return _bounded(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _bounded(when.timestamp() - time.time())


def _bounded(seconds: float) -> float:
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def is_quota_message(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _QUOTA_MARKERS)


def from_status(status: int, message: str, headers: Mapping[str, str]) -> ProviderError:
    """The error for an HTTP ``status`` with the vendor's error ``message``."""
    retry_after = parse_retry_after(headers)
    if status == 429:
        if is_quota_message(message):
            return QuotaExhausted(message, status_code=status)
        return RateLimited(message, status_code=status, retry_after=retry_after)
    if status == 401:
        return AuthenticationFailed(message, status_code=status)
    if status == 402:
        return QuotaExhausted(message, status_code=status)
    if status == 403:
        return PermissionDenied(message, status_code=status)
    if status in (408, 409) or status >= 500:
        return ServerError(message, status_code=status, retry_after=retry_after)
    return BadRequest(message, status_code=status)


def _refused_connection(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError):
            return True
        current = current.__cause__ or current.__context__
    return False


def timeout_error(exc: BaseException, message: str) -> ProviderError:
    """A timeout from an SDK (``message`` says so). Over aiohttp, a refused connection
    also surfaces as a connect "timeout"; the exception chain tells the two apart."""
    if _refused_connection(exc):
        return ConnectionFailed("the provider refused the connection")
    return ProviderTimeout(message)
