"""Money in the counters: whole nano-dollars; months as ``YYYY-MM`` (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

NANO = Decimal("1e-9")


def to_nano(usd: Decimal | float | None) -> int:
    """USD as whole nano-dollars (half up); None (an unknown price) is 0."""
    if usd is None:
        return 0
    return int((Decimal(str(usd)) / NANO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_usd(nano: int) -> Decimal:
    return (Decimal(nano) * NANO).normalize() if nano else Decimal(0)


def month_of(moment: datetime) -> str:
    """The ``YYYY-MM`` of a moment, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m")
