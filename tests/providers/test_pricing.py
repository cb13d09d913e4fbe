"""Cost from the price table: prefixes, unknowns, quantization, fees, the vendor's own figure."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Any

import pytest

from echo_ai.providers.base import Completion
from echo_ai.providers.pricing import price_for, price_table_now, total_cost
from echo_ai.providers.registry import VENDORS


def answer(**fields: Any) -> Completion:
    defaults: dict[str, Any] = {
        "text": "Acme and Globex.",
        "model_version": None,
        "input_tokens": 1_000,
        "output_tokens": 500,
        "latency_ms": 1.0,
    }
    return Completion(**{**defaults, **fields})


def cost_usd(
    vendor: str, model: str, input_tokens: int | None, output_tokens: int | None
) -> Decimal | None:
    """The cost of one answer that did not search (Perplexity's request fee aside, tokens
    only)."""
    tokens = answer(input_tokens=input_tokens, output_tokens=output_tokens)
    return total_cost(vendor, model, [tokens]).total_usd


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
    ("vendor", "model", "expected_family"),
    [
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini-search-preview-2025-03-11", "gpt-4o-mini-search-preview"),
        ("openai", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("openai", "o3-mini-2025-01-31", "o3-mini"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4"),
        ("anthropic", "claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("perplexity", "sonar-reasoning-pro", "sonar-reasoning-pro"),
        ("gemini", "models/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("gemini", "gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini", "gemini-3-pro-preview", "gemini-3-pro"),
    ],
)
def test_snapshots_match_the_longest_known_prefix(
    vendor: str, model: str, expected_family: str
) -> None:
    price = price_for(vendor, model)
    assert price is not None
    assert (price.vendor, price.family) == (vendor, expected_family)


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
    cost = total_cost(
        vendor, model, [answer(input_tokens=input_tokens, output_tokens=output_tokens)]
    )
    assert cost.total_usd is None


def test_demo_is_free_but_known() -> None:
    assert cost_usd("demo", "demo-synthetic-1", 500, 500) == 0
    cost = total_cost("demo", "demo-synthetic-1", [answer(searched=True, web_searches=3)])
    assert (cost.total_usd, cost.fee_usd) == (0, 0)


def test_price_table_is_consistent_and_dated() -> None:
    for vendor, families in price_table_now().items():
        assert vendor in VENDORS
        for family, price in families.items():
            assert family == family.lower() == price.family
            assert price.vendor == vendor
            assert re.match(r"\d{4}-\d{2}", price.read), f"{vendor}.{family} has no date"
            for amount in (price.input_per_million, price.output_per_million):
                assert amount is not None
                assert amount >= 0


def test_the_invoice_case_a_perplexity_answer_billed_its_request_fee() -> None:
    """The real case of issue 11: Sonar at the default (low) search context, a handful of
    tokens. Tokens alone came to $0.000007; the invoice said $0.00501, the request fee
    ($5 per 1,000 requests at low context) being nearly all of it."""
    sonar = price_for("perplexity", "sonar")
    assert sonar is not None
    assert sonar.input_per_million is not None and sonar.output_per_million is not None
    tokens_only = (5 * sonar.input_per_million + 2 * sonar.output_per_million) / 1_000_000
    assert tokens_only == Decimal("0.000007")
    billed = answer(
        input_tokens=5,
        output_tokens=2,
        searched=True,
        web_searches=1,
        reported_cost_usd=Decimal("0.00501"),
        parameters={"web_search_options": {}},
    )

    reported = total_cost("perplexity", "sonar", [billed])
    assert reported.total_usd == Decimal("0.00501")  # the vendor's own figure is the total
    assert reported.fee_usd == Decimal("0.005")  # of which the request fee

    # A response without its cost is priced from the table, fee included.
    from_table = total_cost(
        "perplexity", "sonar", [dataclasses.replace(billed, reported_cost_usd=None)]
    )
    assert from_table.total_usd == Decimal("0.005007")
    assert from_table.fee_usd == Decimal("0.005")


@pytest.mark.parametrize(
    ("model", "context", "fee"),
    [
        ("sonar", "low", "0.005"),
        ("sonar", "medium", "0.008"),
        ("sonar", "high", "0.012"),
        ("sonar-pro", "low", "0.006"),
        ("sonar-pro", "high", "0.014"),
        ("sonar-reasoning-pro", "medium", "0.010"),
        ("sonar-reasoning", "high", "0.012"),
    ],
)
def test_perplexity_request_fee_follows_the_search_context_sent(
    model: str, context: str, fee: str
) -> None:
    sent = answer(
        input_tokens=0,
        output_tokens=0,
        searched=True,
        web_searches=2,  # Sonar's searches are paid for by its request fee
        parameters={"web_search_options": {"search_context_size": context}},
    )
    cost = total_cost("perplexity", model, [sent])
    assert cost.fee_usd == Decimal(fee)
    assert cost.total_usd == Decimal(fee)


def test_a_context_size_the_table_does_not_price_leaves_the_fee_unknown() -> None:
    sent = answer(
        reported_cost_usd=Decimal("0.02"),
        parameters={"web_search_options": {"search_context_size": "maximal"}},
    )
    cost = total_cost("perplexity", "sonar-pro", [sent])
    assert cost.total_usd == Decimal("0.02")  # the vendor said so
    assert cost.fee_usd is None  # but how much of it was a fee, we cannot say
    unreported = total_cost(
        "perplexity", "sonar-pro", [dataclasses.replace(sent, reported_cost_usd=None)]
    )
    assert (unreported.total_usd, unreported.fee_usd) == (None, None)


def test_deep_research_prices_reasoning_citations_and_search_queries_apart() -> None:
    # 100 in; 1,000 out of which 400 reasoning; 2,000 citation tokens; 20 search queries.
    research = answer(
        input_tokens=100,
        output_tokens=1_000,
        reasoning_tokens=400,
        citation_tokens=2_000,
        web_searches=20,
        searched=True,
    )
    cost = total_cost("perplexity", "sonar-deep-research", [research])
    tokens = (100 * 2 + 600 * 8 + 400 * 3 + 2_000 * 2) / Decimal(1_000_000)
    assert cost.fee_usd == Decimal("0.1")  # 20 x $5 / 1,000
    assert cost.total_usd == tokens + Decimal("0.1")


def test_reasoning_tokens_are_output_tokens_where_not_priced_apart() -> None:
    plain = total_cost("openai", "o4-mini", [answer(output_tokens=3_773)])
    reasoning = total_cost(
        "openai", "o4-mini", [answer(output_tokens=3_773, reasoning_tokens=3_136)]
    )
    assert plain == reasoning
    # Citation tokens are not billed apart by Sonar: they add nothing there.
    assert total_cost("perplexity", "sonar", [answer(citation_tokens=9_000)]) == total_cost(
        "perplexity", "sonar", [answer()]
    )


def test_web_search_calls_are_billed_per_search() -> None:
    tokens = cost_usd("openai", "gpt-4o", 1_000, 500)
    assert tokens is not None
    three = total_cost("openai", "gpt-4o", [answer(searched=True, web_searches=3)])
    assert three.fee_usd == Decimal("0.03")  # $10 per 1,000 calls
    assert three.total_usd == tokens + Decimal("0.03")
    # An answer that searched ran at least one search, even where none was counted.
    uncounted = total_cost("openai", "gpt-4o", [answer(searched=True)])
    assert uncounted.fee_usd == Decimal("0.01")
    # No search, no fee.
    assert total_cost("openai", "gpt-4o", [answer()]).fee_usd == 0

    claude = total_cost("anthropic", "claude-sonnet-4-5", [answer(searched=True, web_searches=2)])
    assert claude.fee_usd == Decimal("0.02")


def test_search_preview_chat_models_pay_a_fee_on_every_request() -> None:
    cost = total_cost("openai", "gpt-4o-mini-search-preview", [answer(searched=True)])
    assert cost.fee_usd == Decimal("0.025")  # $25 per 1,000: search content is not billed


def test_gemini_grounding_per_prompt_on_2x_and_per_query_on_3() -> None:
    four_queries = answer(searched=True, web_searches=4)
    flash = total_cost("gemini", "gemini-2.5-flash", [four_queries])
    assert flash.fee_usd == Decimal("0.035")  # one grounded prompt, however many queries
    pro3 = total_cost("gemini", "gemini-3-pro-preview", [four_queries])
    assert pro3.fee_usd == Decimal("0.056")  # 4 x $14 / 1,000
    # An answer grounded without reporting its queries is still a grounded prompt.
    assert total_cost("gemini", "gemini-2.5-pro", [answer(searched=True)]).fee_usd == Decimal(
        "0.035"
    )


def test_a_search_on_a_family_with_no_known_search_fee_is_unknown() -> None:
    cost = total_cost("anthropic", "claude-3-haiku-20240307", [answer(searched=True)])
    assert (cost.total_usd, cost.fee_usd) == (None, None)
    assert total_cost("anthropic", "claude-3-haiku-20240307", [answer()]).total_usd is not None


def test_an_answer_asked_again_is_billed_twice() -> None:
    truncated = answer(output_tokens=2_048, searched=True, web_searches=1)
    retried = answer(output_tokens=3_000, searched=True, web_searches=1)
    one = total_cost("openai", "gpt-5-mini", [truncated])
    two = total_cost("openai", "gpt-5-mini", [retried])
    both = total_cost("openai", "gpt-5-mini", [truncated, retried])
    assert one.total_usd is not None and two.total_usd is not None
    assert both.total_usd == one.total_usd + two.total_usd
    assert both.fee_usd == Decimal("0.02")
    unknown = total_cost("openai", "gpt-5-mini", [truncated, answer(output_tokens=None)])
    assert unknown.total_usd is None
    assert unknown.fee_usd == Decimal("0.01")  # fees are known even when tokens are not
