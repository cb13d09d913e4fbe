"""Budget amounts as people and programs write them, and what is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from echo_ai.billing.spend_schemas import parse_usd


@pytest.mark.parametrize(
    ("text", "typed", "amount"),
    [("50", False, "50.00"), ("12.5", False, "12.50"), ("$1,000", True, "1000.00")],
)
def test_amounts_people_write(text: str, typed: bool, amount: str) -> None:
    assert parse_usd(text, typed=typed) == Decimal(amount)


@pytest.mark.parametrize("text", ["５", "1e3", "NaN", "0.001", "-1", "0", "$5", "1,000"])
def test_amounts_refused(text: str) -> None:
    with pytest.raises(ValueError, match="budget"):
        parse_usd(text)
