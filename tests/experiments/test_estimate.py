"""The estimate the new-experiment form shows: cost from the price table with its stated
assumptions, and the interval half-width the iterations buy."""

from __future__ import annotations

from decimal import Decimal

import pytest

from echo_ai.analysis.statistics import wilson_half_width, wilson_interval
from echo_ai.experiments.estimate import ASSUMED_OUTPUT_TOKENS, estimate
from echo_ai.providers.pricing import price_for
from echo_ai.providers.registry import ProviderSpec

PROMPT = "x" * 400  # 100 tokens at four characters a token


@pytest.mark.parametrize("n", [1, 2, 10, 50, 200, 1000, 10_000])
def test_the_half_width_is_the_wilson_intervals_at_fifty_percent(n: int) -> None:
    if n % 2 == 0:
        low, high = wilson_interval(n // 2, n)
        assert wilson_half_width(n) == pytest.approx((high - low) / 2, abs=1e-12)
    # Wider at 50% than anywhere else, narrower as n grows.
    assert wilson_half_width(n) >= wilson_half_width(n, proportion=0.2)
    assert wilson_half_width(n + 1) < wilson_half_width(n)


def test_the_half_width_checks_its_input() -> None:
    assert round(wilson_half_width(200), 3) == 0.069  # "±6.9 pts at 50%"
    with pytest.raises(ValueError, match="at least one trial"):
        wilson_half_width(0)
    with pytest.raises(ValueError, match="proportion"):
        wilson_half_width(10, proportion=1.5)
    with pytest.raises(ValueError, match="confidence"):
        wilson_half_width(10, confidence=1.0)


def test_cost_is_priced_per_provider_from_the_table() -> None:
    specs = [
        ProviderSpec.parse("openai:gpt-4o-mini"),
        ProviderSpec.parse("anthropic:claude-haiku-4-5"),
    ]
    found = estimate(PROMPT, specs, 200)
    assert (found.input_tokens, found.output_tokens) == (100, ASSUMED_OUTPUT_TOKENS)
    mini, haiku = price_for("openai", "gpt-4o-mini"), price_for("anthropic", "claude-haiku-4-5")
    assert mini is not None and haiku is not None
    per_answer = [
        (100 * price.input_per_million + ASSUMED_OUTPUT_TOKENS * price.output_per_million)
        / Decimal(1_000_000)
        for price in (mini, haiku)
    ]
    assert [p.usd for p in found.providers] == [cost * 200 for cost in per_answer]
    assert found.known_usd == sum(cost * 200 for cost in per_answer)
    assert found.unpriced == [] and found.calls == 400 and not found.synthetic
    assert found.half_width == wilson_half_width(200)


def test_unknown_prices_stay_unknown_and_demo_is_free() -> None:
    specs = [
        ProviderSpec.parse("demo"),
        ProviderSpec.parse("openai:my-fine-tune"),
        ProviderSpec.parse("openai_compatible:llama3.1:8b"),
    ]
    found = estimate("Best CRM?", specs, 10)
    assert [p.usd for p in found.providers] == [Decimal(0), None, None]
    assert found.unpriced == ["openai:my-fine-tune", "openai_compatible:llama3.1:8b"]
    assert found.known_usd == 0 and found.synthetic
    assert found.providers[0].synthetic and not found.providers[1].synthetic
