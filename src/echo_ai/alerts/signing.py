"""Signing webhook bodies, so that a receiver can tell they come from this server, unchanged
and recent (docs/alerts.md shows how to verify).

Each request carries ``Echo-AI-Timestamp`` (Unix seconds when it was sent) and
``Echo-AI-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with
the endpoint's secret (shown once, when the rule is created). A receiver recomputes it over
the raw body, compares in constant time, and refuses a timestamp older than a few minutes
(a replayed request). ``Echo-AI-Delivery`` is the delivery's id, the same on each retry of
it, so a receiver can ignore one it already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TIMESTAMP_HEADER = "Echo-AI-Timestamp"
SIGNATURE_HEADER = "Echo-AI-Signature"
DELIVERY_HEADER = "Echo-AI-Delivery"
SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300
"""How old a timestamp the receivers' check in docs/alerts.md accepts."""


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signed: str,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (docs/alerts.md): the signature matches and the timestamp is
    within ``tolerance`` seconds of ``now``."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, body), signed)


def headers(secret: str, timestamp: int, body: bytes, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_HEADER: delivery_id,
        "User-Agent": "Echo-AI-Webhooks/1",
    }
