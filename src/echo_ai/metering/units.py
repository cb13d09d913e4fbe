"""Money in the counters: whole nano-dollars; months as ``YYYY-MM`` (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import PlainSerializer

NANO = Decimal("1e-9")


def to_nano(usd: Decimal | float | None) -> int:
    """USD as whole nano-dollars (half up); None (an unknown price) is 0."""
    if usd is None:
        return 0
    return int((Decimal(str(usd)) / NANO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_usd(nano: int) -> Decimal:
    """Nano-dollars as USD, exact (nine decimals; show it with :func:`usd_text`)."""
    return Decimal(nano).scaleb(-9) if nano else Decimal(0)


def usd_text(amount: Decimal) -> str:
    """A USD amount as a plain decimal string: no exponent (``str`` of a Decimal writes
    ``1E+1`` and ``5.00E-7``), no trailing zeros past the cents."""
    text = format(amount, "f")
    if "." in text:
        whole, fraction = text.split(".")
        fraction = fraction.rstrip("0").ljust(2, "0")
        text = f"{whole}.{fraction}"
    else:
        text += ".00"
    return text


UsdText = Annotated[Decimal, PlainSerializer(usd_text, return_type=str, when_used="json")]
"""A Decimal field of an API model that answers as :func:`usd_text` in JSON."""


def month_of(moment: datetime) -> str:
    """The ``YYYY-MM`` of a moment, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m")
