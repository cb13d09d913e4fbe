"""What an experiment will cost and how precise its figures will be, before it runs.

The cost comes from the price table (:mod:`echo_ai.providers.pricing`) with an assumed
answer length: answers are not known before they are given, so the estimate says what it
assumed (:data:`ASSUMED_OUTPUT_TOKENS` per answer; the prompt's own length in, at about
four characters a token). A model missing from the table has an unknown price, never a
free one. Fees that are certain are included, priced the way a stored answer is
(:func:`echo_ai.providers.pricing.answer_cost`): a vendor that searches on every request
(Perplexity, OpenAI's search-preview chat models) and any provider of an experiment that
asks for grounding is assumed to search once per answer, so its request fee, one web
search or one grounded prompt (Gemini 2.x) is counted, with Perplexity at its default
search context size. An answer that searches more than once costs more than the
estimate; the costs stored after a run count every search (docs/metrics.md, "Cost").

The precision is the half-width of the 95% Wilson interval the iterations of one
provider buy at a rate of 50% (the widest): "±6.9 points at 50%" for 200 iterations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from echo_ai.analysis.statistics import wilson_half_width
from echo_ai.providers.base import Completion
from echo_ai.providers.capabilities import capabilities_for
from echo_ai.providers.perplexity import SEARCH_CONTEXT_SIZE
from echo_ai.providers.pricing import answer_cost
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


_ALWAYS_SEARCH: Final = frozenset({"perplexity"})
"""Vendors whose every answer searches the web, whatever is asked."""


def always_searches(spec: ProviderSpec) -> bool:
    """Whether every answer of ``spec`` searches: Perplexity, or a search model of Chat
    Completions (OpenAI's ``*-search-preview``)."""
    if spec.vendor in _ALWAYS_SEARCH:
        return True
    return capabilities_for(spec.vendor, spec.model).search_endpoint == "chat"


def assumed_answer(spec: ProviderSpec, input_tokens: int, *, grounding: bool) -> Completion:
    """The answer the estimate prices: the assumed lengths, and one search when the vendor
    always searches or the experiment asks for grounding."""
    searched = grounding or always_searches(spec)
    return Completion(
        text="",
        model_version=None,
        input_tokens=input_tokens,
        output_tokens=ASSUMED_OUTPUT_TOKENS,
        latency_ms=0.0,
        searched=searched,
        web_searches=1 if searched else 0,
        # What the Perplexity adapter sends with every request: its request fee's tier.
        parameters=(
            {"web_search_options": {"search_context_size": SEARCH_CONTEXT_SIZE}}
            if spec.vendor == "perplexity"
            else {}
        ),
    )


def estimate(
    prompt: str, providers: Sequence[ProviderSpec], iterations: int, *, grounding: bool
) -> Estimate:
    """Cost and precision of ``iterations`` answers from each of ``providers`` to
    ``prompt`` (``iterations`` at least 1); ``grounding``: the experiment asks for answers
    grounded in a web search."""
    input_tokens = approximate_tokens(prompt.strip())
    costs: list[ProviderCost] = []
    for spec in providers:
        answer = assumed_answer(spec, input_tokens, grounding=grounding)
        per_answer = answer_cost(spec.vendor, spec.model, answer).total_usd
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
