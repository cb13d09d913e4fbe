"""The answer a cost is estimated on before it is given: the one implementation that the
pre-run estimate (:mod:`echo_ai.billing.estimate`) and the runner's per-call reservation
(:mod:`echo_ai.execution.runner`) both price.

An assumed answer has the tokens it is told (the model's typical ones from past runs, or
the prompt's length in and :data:`ASSUMED_OUTPUT_TOKENS` out) and the fees that are
certain: a vendor that searches on every request (Perplexity, OpenAI's search-preview chat
models) and any answer of an experiment asking for grounding is assumed to search once, so
its request fee, one web search or one grounded prompt is counted, with Perplexity at the
search context size its adapter sends. A model missing from the price table costs
``None`` (unknown), never zero; the offline demo provider costs zero.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from echo_ai.providers.base import Completion
from echo_ai.providers.capabilities import PERPLEXITY_SEARCH_CONTEXT_SIZE, capabilities_for
from echo_ai.providers.pricing import answer_cost

ASSUMED_OUTPUT_TOKENS = 500
"""Tokens of an answer assumed when a model has no past answers: a recommendation of a few
paragraphs (a request allows more: see :mod:`echo_ai.providers.capabilities`)."""

_ALWAYS_SEARCH: Final = frozenset({"perplexity"})
"""Vendors whose every answer searches the web, whatever is asked."""


def always_searches(vendor: str, model: str) -> bool:
    """Whether every answer of ``vendor:model`` searches: Perplexity, or a search model of
    Chat Completions (OpenAI's ``*-search-preview``)."""
    if vendor in _ALWAYS_SEARCH:
        return True
    return capabilities_for(vendor, model).search_endpoint == "chat"


def assumed_answer(
    vendor: str,
    model: str,
    input_tokens: int,
    *,
    grounding: bool,
    output_tokens: int = ASSUMED_OUTPUT_TOKENS,
) -> Completion:
    """The answer priced: these lengths, and one search when the vendor always searches or
    the experiment asks for grounding."""
    searched = grounding or always_searches(vendor, model)
    return Completion(
        text="",
        model_version=None,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=0.0,
        searched=searched,
        web_searches=1 if searched else 0,
        # What the Perplexity adapter sends with every request: its request fee's tier.
        parameters=(
            {"web_search_options": {"search_context_size": PERPLEXITY_SEARCH_CONTEXT_SIZE}}
            if vendor == "perplexity"
            else {}
        ),
    )


def assumed_cost(
    vendor: str,
    model: str,
    input_tokens: int,
    *,
    grounding: bool,
    output_tokens: int = ASSUMED_OUTPUT_TOKENS,
) -> Decimal | None:
    """What one :func:`assumed_answer` costs by the price table, fees included; ``None``
    for a model without a price."""
    answer = assumed_answer(
        vendor, model, input_tokens, grounding=grounding, output_tokens=output_tokens
    )
    return answer_cost(vendor, model, answer).total_usd
