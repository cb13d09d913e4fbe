"""What a call cost, from a table of list prices per million tokens.

Unknown prices give ``None``, never 0, so a report can say "cost unknown" instead of
under-stating spend. Prices are list prices for standard (non-batch, non-cached) usage;
per-request search fees (Perplexity, OpenAI web search, Gemini grounding) are not included.
Vendors change prices: each entry records when it was read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from echo_ai.providers.base import Completion
from echo_ai.providers.families import longest_prefix

_QUANTUM: Final = Decimal("0.00000001")
_MILLION: Final = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    vendor: str
    input_per_million: Decimal
    output_per_million: Decimal


def _p(vendor: str, input_usd: str, output_usd: str) -> ModelPrice:
    return ModelPrice(vendor, Decimal(input_usd), Decimal(output_usd))


PRICES: dict[str, ModelPrice] = {
    # OpenAI, as published on openai.com/api/pricing (August 2025).
    "gpt-4o": _p("openai", "2.50", "10.00"),
    "gpt-4o-mini": _p("openai", "0.15", "0.60"),
    "gpt-4.1": _p("openai", "2.00", "8.00"),
    "gpt-4.1-mini": _p("openai", "0.40", "1.60"),
    "gpt-4.1-nano": _p("openai", "0.10", "0.40"),
    "gpt-5": _p("openai", "1.25", "10.00"),
    "gpt-5-mini": _p("openai", "0.25", "2.00"),
    "gpt-5-nano": _p("openai", "0.05", "0.40"),
    "gpt-5-pro": _p("openai", "15.00", "120.00"),  # as published October 2025
    "o3": _p("openai", "2.00", "8.00"),  # after the June 2025 price cut
    "o3-pro": _p("openai", "20.00", "80.00"),  # as published June 2025
    "o3-mini": _p("openai", "1.10", "4.40"),
    "o4-mini": _p("openai", "1.10", "4.40"),
    # Anthropic, as published on anthropic.com/pricing (November 2025).
    "claude-opus-4-5": _p("anthropic", "5.00", "25.00"),
    "claude-opus-4": _p("anthropic", "15.00", "75.00"),  # also 4.1
    "claude-sonnet-4": _p("anthropic", "3.00", "15.00"),  # also 4.5
    "claude-haiku-4-5": _p("anthropic", "1.00", "5.00"),
    "claude-3-7-sonnet": _p("anthropic", "3.00", "15.00"),
    "claude-3-5-sonnet": _p("anthropic", "3.00", "15.00"),
    "claude-3-5-haiku": _p("anthropic", "0.80", "4.00"),
    "claude-3-haiku": _p("anthropic", "0.25", "1.25"),
    # Perplexity, as published on docs.perplexity.ai pricing (August 2025); tokens only.
    "sonar": _p("perplexity", "1.00", "1.00"),
    "sonar-pro": _p("perplexity", "3.00", "15.00"),
    "sonar-reasoning": _p("perplexity", "1.00", "5.00"),
    "sonar-reasoning-pro": _p("perplexity", "2.00", "8.00"),
    "sonar-deep-research": _p("perplexity", "2.00", "8.00"),
    # Google Gemini API, as published on ai.google.dev pricing (August 2025), prompts
    # up to 200k tokens.
    "gemini-2.5-pro": _p("gemini", "1.25", "10.00"),
    "gemini-2.5-flash": _p("gemini", "0.30", "2.50"),
    "gemini-2.5-flash-lite": _p("gemini", "0.10", "0.40"),
    "gemini-2.0-flash": _p("gemini", "0.10", "0.40"),
    "gemini-2.0-flash-lite": _p("gemini", "0.075", "0.30"),
    # Synthetic answers cost nothing.
    "demo": _p("demo", "0", "0"),
}


def price_for(vendor: str, model: str) -> ModelPrice | None:
    """The price of ``model``, matching dated snapshots by the longest known prefix.

    ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``; a prefix only counts at a
    separator, so ``o3`` never prices ``o30``. A model billed by another vendor than the one
    asked (say a proxy serving ``gpt-4o``) has no known price.
    """
    if vendor == "demo":
        return PRICES["demo"]
    best = longest_prefix(model, PRICES)
    if best is None or PRICES[best].vendor != vendor:
        return None
    return PRICES[best]


def cost_usd(
    vendor: str, model: str, input_tokens: int | None, output_tokens: int | None
) -> Decimal | None:
    """USD cost of one call, quantized to 1e-8, or ``None`` when it cannot be known."""
    price = price_for(vendor, model)
    if price is None or input_tokens is None or output_tokens is None:
        return None
    total = (
        Decimal(input_tokens) * price.input_per_million
        + Decimal(output_tokens) * price.output_per_million
    ) / _MILLION
    return total.quantize(_QUANTUM)


@dataclass(frozen=True, slots=True)
class CallCost:
    """What one or more calls cost in all and, of that, in fees (None: unknown)."""

    total_usd: Decimal | None
    fee_usd: Decimal | None


def total_cost(vendor: str, model: str, completions: Iterable[Completion]) -> CallCost:
    """The cost of the answers to one iteration (a truncated answer asked again is billed
    twice): the vendor's own figure where the response reports one, else the price table's;
    unknown as soon as one part is unknown."""
    total: Decimal | None = Decimal(0)
    fees: Decimal | None = Decimal(0)
    for completion in completions:
        if completion.reported_cost_usd is not None:
            part: Decimal | None = completion.reported_cost_usd
        else:
            part = cost_usd(vendor, model, completion.input_tokens, completion.output_tokens)
        total = None if total is None or part is None else total + part
    if total is None:
        fees = None
    return CallCost(total_usd=total, fee_usd=fees)
