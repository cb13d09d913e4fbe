"""The estimate the new-experiment form shows: cost from the price table with its stated
assumptions, and the interval half-width the iterations buy."""

from __future__ import annotations

from decimal import Decimal

import pytest

from echo_ai.analysis.statistics import wilson_half_width, wilson_interval
from echo_ai.billing.estimate import ASSUMED_OUTPUT_TOKENS, estimate
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
    found = estimate(PROMPT, specs, 200, grounding=False)
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
    found = estimate("Best CRM?", specs, 10, grounding=False)
    assert [p.usd for p in found.providers] == [Decimal(0), None, None]
    assert found.unpriced == ["openai:my-fine-tune", "openai_compatible:llama3.1:8b"]
    assert found.known_usd == 0 and found.synthetic
    assert found.providers[0].synthetic and not found.providers[1].synthetic


REVIEWED = "y" * 80  # 20 tokens: the prompt the reviewer priced


def test_fees_every_answer_brings_are_in_the_estimate() -> None:
    """The reviewer's figures: Perplexity sonar was estimated at $0.00052 an answer and
    stored at $0.00552 (its request fee at the low context size); grounded
    gemini-2.5-flash at $0.00126 against $0.03626 (the $35 per 1,000 grounded prompts)."""
    sonar = estimate(REVIEWED, [ProviderSpec.parse("perplexity:sonar")], 1, grounding=False)
    assert sonar.providers[0].usd == Decimal("0.00552")

    flash = [ProviderSpec.parse("gemini:gemini-2.5-flash")]
    assert estimate(REVIEWED, flash, 1, grounding=True).providers[0].usd == Decimal("0.036256")
    assert estimate(REVIEWED, flash, 1, grounding=False).providers[0].usd == Decimal("0.001256")


@pytest.mark.parametrize(
    ("spec", "grounding", "searches"),
    [
        ("openai:gpt-4o-mini", True, 1),
        ("openai:gpt-4o-mini", False, 0),
        ("openai:gpt-4o-mini-search-preview", False, 0),
        ("anthropic:claude-haiku-4-5", True, 1),
        ("anthropic:claude-haiku-4-5", False, 0),
    ],
)
def test_one_web_search_per_grounded_answer_and_the_request_fee_of_search_models(
    spec: str, grounding: bool, searches: int
) -> None:
    provider = ProviderSpec.parse(spec)
    price = price_for(provider.vendor, provider.model)
    assert price is not None and price.input_per_million is not None
    assert price.output_per_million is not None
    tokens = (
        20 * price.input_per_million + ASSUMED_OUTPUT_TOKENS * price.output_per_million
    ) / Decimal(1_000_000)
    fee = Decimal(0)
    if searches:
        assert price.search_per_thousand is not None
        fee += price.search_per_thousand / 1000
    if price.request_per_thousand:  # the search-preview models: every answer searches
        fee += next(iter(price.request_per_thousand.values())) / 1000
        assert fee > 0
    found = estimate(REVIEWED, [provider], 10, grounding=grounding)
    assert found.providers[0].usd == (tokens + fee) * 10
