"""Cost from the price table: prefixes, unknowns, quantization."""

from __future__ import annotations

from decimal import Decimal

import pytest

from echo_ai.providers.pricing import PRICES, cost_usd, price_for
from echo_ai.providers.registry import VENDORS


def test_cost_is_tokens_times_price_per_million() -> None:
    # gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
    assert cost_usd("openai", "gpt-4o-mini", 1_000_000, 1_000_000) == Decimal("0.75")
    assert cost_usd("openai", "gpt-4o-mini", 1000, 500) == Decimal("0.00045")


def test_cost_is_quantized_to_hundred_millionths() -> None:
    cost = cost_usd("openai", "gpt-4o-mini", 1, 1)
    assert cost == Decimal("0.00000075")
    assert cost is not None
    assert cost.as_tuple().exponent == -8


@pytest.mark.parametrize(
    ("vendor", "model", "expected_key"),
    [
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("openai", "o3-mini-2025-01-31", "o3-mini"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4"),
        ("anthropic", "claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("perplexity", "sonar-reasoning-pro", "sonar-reasoning-pro"),
        ("gemini", "models/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("gemini", "gemini-2.0-flash-001", "gemini-2.0-flash"),
    ],
)
def test_snapshots_match_the_longest_known_prefix(
    vendor: str, model: str, expected_key: str
) -> None:
    assert price_for(vendor, model) is PRICES[expected_key]


@pytest.mark.parametrize(
    ("vendor", "model", "input_tokens", "output_tokens"),
    [
        ("openai", "gpt-99-turbo", 10, 10),  # unknown model
        ("openai", "o30", 10, 10),  # a prefix only counts at a separator
        ("openai_compatible", "gpt-4o", 10, 10),  # a proxy's price is not OpenAI's
        ("openai", "gpt-4o", None, 10),
        ("openai", "gpt-4o", 10, None),
    ],
)
def test_unknown_cost_is_none_never_zero(
    vendor: str, model: str, input_tokens: int | None, output_tokens: int | None
) -> None:
    assert cost_usd(vendor, model, input_tokens, output_tokens) is None


def test_demo_is_free_but_known() -> None:
    cost = cost_usd("demo", "demo-synthetic-1", 500, 500)
    assert cost is not None
    assert cost == 0


def test_price_table_is_consistent() -> None:
    for key, price in PRICES.items():
        assert price.vendor in VENDORS, key
        assert price.input_per_million >= 0
        assert price.output_per_million >= 0
        assert key == key.lower()
