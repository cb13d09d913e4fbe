"""What a call cost, and how much of that was fees: the vendor's own figure where the response
reports one, else the dated price table (``prices.toml``, docs/metrics.md "Cost").

A cost is tokens times their price plus fees: a request fee (Perplexity's, by search
context size; OpenAI's search-preview chat models'), a fee per web search (OpenAI's web
search tool, Anthropic's web search, Gemini 3 grounding, Perplexity deep research's search
queries) or per grounded answer (Gemini 2.x). Unknown prices give ``None``, never 0, so a
report can say "cost unknown" instead of under-stating spend.

What the table reads from a :class:`~echo_ai.providers.base.Completion`: ``input_tokens``
and ``output_tokens``; ``reasoning_tokens`` as a part of ``output_tokens`` (priced apart
only where the vendor prices them apart); ``citation_tokens`` as tokens besides
``input_tokens`` (as Perplexity reports them), priced only where the vendor bills them;
``web_searches``; ``searched``; and the search context size sent
(``parameters["web_search_options"]["search_context_size"]``, else the vendor's default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from echo_ai.providers import price_table
from echo_ai.providers.base import Completion
from echo_ai.providers.families import longest_prefix
from echo_ai.providers.price_table import FLAT, FamilyPrice, PriceFileError, PriceTable

__all__ = [
    "CallCost",
    "FamilyPrice",
    "PriceFileError",
    "price_for",
    "price_table_now",
    "total_cost",
    "use_price_file",
]

_QUANTUM: Final = Decimal("0.00000001")
_MILLION: Final = Decimal(1_000_000)
_THOUSAND: Final = Decimal(1_000)
_FREE: Final = "demo"
"""Synthetic answers cost nothing, whatever their model is called."""


def _vendors() -> frozenset[str]:
    from echo_ai.providers.registry import VENDORS

    return frozenset(VENDORS) - {_FREE}


_table: PriceTable | None = None


def price_table_now() -> PriceTable:
    """The table in use: the shipped one, with the operator's file over it once installed."""
    global _table
    if _table is None:
        _table = price_table.shipped(_vendors())
    return _table


def use_price_file(path: Path | None) -> PriceTable:
    """Install the shipped table with ``path`` (an operator's file) over it, or the shipped
    table alone. Called once at start-up; raises :class:`PriceFileError` naming the line or
    entry of a file that cannot be used, and then keeps the table it had."""
    global _table
    table = price_table.shipped(_vendors())
    if path is not None:
        table = price_table.with_file(table, path, _vendors())
    _table = table
    return table


def price_for(vendor: str, model: str) -> FamilyPrice | None:
    """The prices of ``model``'s family, matching dated snapshots by the longest known prefix.

    ``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``; a prefix only counts at a
    separator, so ``o3`` never prices ``o30``. A model served by another vendor than the one
    that lists it (say a proxy serving ``gpt-4o``) has no known price.
    """
    families = price_table_now().get(vendor)
    if not families:
        return None
    best = longest_prefix(model, families)
    return None if best is None else families[best]


@dataclass(frozen=True, slots=True)
class CallCost:
    """What one or more calls cost in all and, of that, in request and search fees
    (None: unknown)."""

    total_usd: Decimal | None
    fee_usd: Decimal | None


def search_context(price: FamilyPrice, parameters: Mapping[str, Any]) -> str | None:
    """The search context size the request was sent with, else the vendor's default."""
    options = parameters.get("web_search_options")
    sent = options.get("search_context_size") if isinstance(options, Mapping) else None
    if sent is None:
        sent = parameters.get("search_context_size")
    return sent if isinstance(sent, str) else price.default_context


def fees(price: FamilyPrice, completion: Completion) -> Decimal | None:
    """The request and search fees of one answer, None when one of them is unknown."""
    total = Decimal(0)
    if price.request_per_thousand:
        fee = price.request_per_thousand.get(FLAT)
        if fee is None:
            context = search_context(price, completion.parameters)
            fee = price.request_per_thousand.get(context) if context else None
        if fee is None:
            return None
        total += fee / _THOUSAND
    searched = completion.web_searches > 0 or completion.searched
    if price.search_per_thousand is not None:
        # An answer that searched ran at least one search, even where none was counted.
        searches = max(completion.web_searches, 1 if searched else 0)
        total += searches * price.search_per_thousand / _THOUSAND
    if price.grounded_answer_per_thousand is not None and searched:
        total += price.grounded_answer_per_thousand / _THOUSAND
    if searched and not price.bills_searches:
        return None
    return total


def _token_cost(price: FamilyPrice, completion: Completion) -> Decimal | None:
    if price.input_per_million is None or price.output_per_million is None:
        return None
    if completion.input_tokens is None or completion.output_tokens is None:
        return None
    output = Decimal(completion.output_tokens)
    total = Decimal(completion.input_tokens) * price.input_per_million
    reasoning = completion.reasoning_tokens
    if price.reasoning_per_million is not None and reasoning:
        reasoning = min(reasoning, completion.output_tokens)
        total += reasoning * price.reasoning_per_million
        output -= reasoning
    total += output * price.output_per_million
    if price.citation_per_million is not None and completion.citation_tokens:
        total += completion.citation_tokens * price.citation_per_million
    return total / _MILLION


def answer_cost(vendor: str, model: str, completion: Completion) -> CallCost:
    """The cost of one answer: the vendor's figure, or tokens times prices, plus fees."""
    if vendor == _FREE:
        return CallCost(Decimal(0), Decimal(0))
    price = price_for(vendor, model)
    fee = None if price is None else fees(price, completion)
    if completion.reported_cost_usd is not None:
        # The vendor's figure includes its fees; the table only says how much of it they are.
        return CallCost(completion.reported_cost_usd, fee)
    if price is None or fee is None:
        return CallCost(None, fee)
    tokens = _token_cost(price, completion)
    return CallCost(None if tokens is None else tokens + fee, fee)


def total_cost(vendor: str, model: str, completions: Iterable[Completion]) -> CallCost:
    """The cost of the answers to one iteration (a truncated answer asked again is billed
    twice), quantized to 1e-8; each part unknown as soon as one answer's is."""
    total: Decimal | None = Decimal(0)
    fee_total: Decimal | None = Decimal(0)
    for completion in completions:
        part = answer_cost(vendor, model, completion)
        total = None if total is None or part.total_usd is None else total + part.total_usd
        fee_total = None if fee_total is None or part.fee_usd is None else fee_total + part.fee_usd
    return CallCost(
        total_usd=None if total is None else total.quantize(_QUANTUM),
        fee_usd=None if fee_total is None else fee_total.quantize(_QUANTUM),
    )
