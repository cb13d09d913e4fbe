"""Numbers and times as a reader expects them: ``60.5%``, ``±6.9 pts``, ``$1.24``,
``100,000``, and times in the viewer's time zone. Jinja filters (see :mod:`.rendering`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from echo_ai.text import usd as text_usd

DASH = "–"
"""Shown where there is no value (no answers yet, nothing to divide by)."""


def percent(value: float | None, digits: int = 1) -> str:
    """A rate in [0, 1] as a percentage: ``0.605`` → ``60.5%``."""
    if value is None:
        return DASH
    return f"{value * 100:.{digits}f}%"


def points(half_width: float | None, digits: int = 1) -> str:
    """An interval's half-width in percentage points: ``0.069`` → ``±6.9 pts``."""
    if half_width is None:
        return DASH
    return f"±{half_width * 100:.{digits}f} pts"


def interval(value: float, low: float, high: float) -> str:
    """A 95% interval as readers take it: ``±6.9 pts`` when it is about symmetric around
    the value, the range ``0.0–1.3%`` when it is lopsided (near 0% or 100%, where
    "±half-width" would misstate the far bound)."""
    above, below = high - value, value - low
    if max(above, below) > LOPSIDED * min(above, below):
        return f"{percent(low)}–{percent(high)}"
    return points((high - low) / 2)


LOPSIDED = 1.5
"""One side of an interval longer than this many times the other: shown as a range."""


def signed_points(change: float | None, digits: int = 1) -> str:
    """A change of a rate in percentage points: ``-0.042`` → ``−4.2 pts``."""
    if change is None:
        return DASH
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    return f"{sign}{abs(change) * 100:.{digits}f} pts"


def usd(value: float | Decimal | None) -> str:
    """Dollars (:func:`echo_ai.text.usd`); an unknown amount is a dash."""
    return DASH if value is None else text_usd(value)


def number(value: float | int | None, digits: int = 0) -> str:
    """A count or measure with thousands separators: ``100000`` → ``100,000``."""
    if value is None:
        return DASH
    return f"{value:,.{digits}f}"


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone named (the browser's, from its cookie, which ``app.js`` writes
    percent-encoded: ``Europe%2FParis``), UTC when unknown."""
    if name:
        try:
            return ZoneInfo(unquote(name))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def local_time(value: datetime | None, tz: ZoneInfo, *, seconds: bool = False) -> str:
    """``2026-11-26 18:05 CET``: a stored time in the viewer's zone."""
    if value is None:
        return DASH
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    shown = value.astimezone(tz)
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def iso(value: datetime | None) -> str:
    """For ``<time datetime="...">``."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
