"""What an experiment will cost and how precise its figures will be, before it runs.

The cost comes from the price table (:mod:`echo_ai.providers.pricing`) with an assumed
answer length: answers are not known before they are given, so the estimate says what it
assumed (:data:`ASSUMED_OUTPUT_TOKENS` per answer; the prompt's own length in, at about
four characters a token). A model missing from the table has an unknown price, never a
free one. Request and search fees (Perplexity's request fee, web searches, grounded
prompts) are left out of the estimate: they depend on searches not yet run. The costs
stored after a run include them (docs/metrics.md, "Cost").

The precision is the half-width of the 95% Wilson interval the iterations of one
provider buy at a rate of 50% (the widest): "±6.9 points at 50%" for 200 iterations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from echo_ai.analysis.statistics import wilson_half_width
from echo_ai.providers.pricing import cost_usd
from echo_ai.providers.registry import ProviderSpec
from echo_ai.providers.synthetic import approximate_tokens

ASSUMED_OUTPUT_TOKENS = 500
"""Tokens of an answer the estimate assumes: a recommendation of a few paragraphs (a
request allows more: see :mod:`echo_ai.providers.capabilities`)."""
PRECISION_AT = 0.5
"""The rate the precision is quoted at: where an interval is widest."""


@dataclass(frozen=True)
class ProviderCost:
    provider: str
    """``vendor:model``."""
    synthetic: bool
    """The offline demo provider: its answers are made up and cost nothing."""
    usd: Decimal | None
    """The provider's share for every iteration; ``None`` when the model has no price."""


@dataclass(frozen=True)
class Estimate:
    iterations: int
    """Per provider."""
    input_tokens: int
    """Assumed per answer (the prompt's length)."""
    output_tokens: int
    """Assumed per answer (:data:`ASSUMED_OUTPUT_TOKENS`)."""
    providers: list[ProviderCost]
    half_width: float
    """Of the 95% interval of a provider's rate at :data:`PRECISION_AT`, ``iterations``
    answers."""

    @property
    def calls(self) -> int:
        return self.iterations * len(self.providers)

    @property
    def known_usd(self) -> Decimal:
        """The cost of the providers whose price is known."""
        return sum((p.usd for p in self.providers if p.usd is not None), Decimal(0))

    @property
    def unpriced(self) -> list[str]:
        """Providers whose model is not in the price table."""
        return [p.provider for p in self.providers if p.usd is None]

    @property
    def synthetic(self) -> bool:
        return any(p.synthetic for p in self.providers)


def estimate(prompt: str, providers: Sequence[ProviderSpec], iterations: int) -> Estimate:
    """Cost and precision of ``iterations`` answers from each of ``providers`` to
    ``prompt`` (``iterations`` at least 1)."""
    input_tokens = approximate_tokens(prompt.strip())
    costs: list[ProviderCost] = []
    for spec in providers:
        per_answer = cost_usd(spec.vendor, spec.model, input_tokens, ASSUMED_OUTPUT_TOKENS)
        costs.append(
            ProviderCost(
                provider=str(spec),
                synthetic=spec.vendor == "demo",
                usd=None if per_answer is None else per_answer * iterations,
            )
        )
    return Estimate(
        iterations=iterations,
        input_tokens=input_tokens,
        output_tokens=ASSUMED_OUTPUT_TOKENS,
        providers=costs,
        half_width=wilson_half_width(iterations, proportion=PRECISION_AT),
    )
