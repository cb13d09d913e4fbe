"""PerplexityProvider against the fake server through the official perplexityai SDK."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.providers.base import (
    AnswerClass,
    AuthenticationFailed,
    Citation,
    Completion,
    CompletionRequest,
    GroundingMissing,
    MalformedResponse,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
    UserLocation,
)
from echo_ai.providers.perplexity import (
    PerplexityProvider,
    SplitContent,
    split_citations,
    split_think,
)
from echo_ai.providers.pricing import answer_cost, total_cost
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.providers.helpers import assert_complete_raises

PROMPT = "Which CRM should a small agency use?"


@pytest.fixture
async def provider(fake_llm: FakeLLMServer) -> AsyncIterator[PerplexityProvider]:
    adapter = PerplexityProvider(api_key="pplx-test", base_url=fake_llm.base_url)
    yield adapter
    await adapter.aclose()


async def test_markers_split_results_into_citations_and_sources(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = [("HubSpot", 1.0), ("Salesforce", 1.0), ("Pipedrive", 1.0)]
    request = CompletionRequest(
        prompt=PROMPT,
        model="sonar-pro",
        grounding=True,
        user_location=UserLocation(country="US", city="Austin", timezone="America/Chicago"),
    )
    completion = await provider.complete(request)

    path, body = fake_llm.requests[-1]
    assert path == "/chat/completions"
    assert body["web_search_options"] == {
        "search_context_size": "low",
        "user_location": {"country": "US", "city": "Austin"},
    }
    assert body["temperature"] == 1.0
    assert completion.searched
    assert completion.model_version == "sonar-pro"
    assert completion.input_tokens
    assert completion.output_tokens
    # The fake server lists one uncited review site first, so marker [1] is never used.
    assert "[1]" not in completion.text
    assert completion.sources, "uncited search results are kept as sources"
    assert completion.citations
    for citation in completion.citations:
        assert citation.start_index is not None
        assert citation.end_index is not None
        marker = completion.text[citation.start_index : citation.end_index]
        assert marker.startswith("[")
        assert marker.endswith("]")
        assert citation.title is not None
        assert citation.title.endswith("official site")
    cited = {c.url for c in completion.citations}
    assert not cited & {s.url for s in completion.sources}


def test_split_citations_uses_each_result_once_and_ignores_bad_markers() -> None:
    results = [Citation(url="https://a.com/"), Citation(url="https://b.com/")]
    text = "B is good [2]. B again [2][9]. Footnote [0]."
    cited, uncited = split_citations(text, results)
    assert [c.url for c in cited] == ["https://b.com/"]
    assert (cited[0].start_index, cited[0].end_index) == (10, 13)
    assert [c.url for c in uncited] == ["https://a.com/"]


async def test_no_search_results_with_grounding_required_fails_closed(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["no_search"]
    request = CompletionRequest(
        prompt=PROMPT, model="sonar", grounding=True, require_grounding=True
    )
    with pytest.raises(GroundingMissing):
        await provider.complete(request)


@pytest.mark.parametrize(
    ("outcome", "error_type"),
    [
        ("500", ServerError),
        ("401", AuthenticationFailed),
        ("quota", QuotaExhausted),
        ("malformed", MalformedResponse),
    ],
)
async def test_failures_map_onto_our_errors(
    provider: PerplexityProvider,
    fake_llm: FakeLLMServer,
    outcome: str,
    error_type: type[Exception],
) -> None:
    fake_llm.config.script = [outcome]
    with pytest.raises(error_type):
        await provider.complete(CompletionRequest(prompt=PROMPT, model="sonar"))
    assert fake_llm.request_count == 1, "SDK retries must be off"


async def test_rate_limit_carries_retry_after(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["429"]
    fake_llm.config.retry_after_seconds = 2.5
    with pytest.raises(RateLimited) as caught:
        await provider.complete(CompletionRequest(prompt=PROMPT, model="sonar"))
    assert caught.value.retry_after == 2.5


async def test_stalled_server_times_out(fake_llm: FakeLLMServer) -> None:
    fake_llm.config.script = ["hang"]
    fake_llm.config.hang_seconds = 5
    adapter = PerplexityProvider(api_key="k", base_url=fake_llm.base_url, timeout_seconds=0.3)
    request = CompletionRequest(prompt=PROMPT, model="sonar")
    await assert_complete_raises(adapter, request, ProviderTimeout)


# Bodies shaped as Perplexity sends them (tests/providers/bodies/perplexity/), through the
# perplexityai SDK and the adapter.

BODIES = Path(__file__).parent / "bodies" / "perplexity"
BRANDS = BrandSet.model_validate(
    {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [
            {"name": "Pipedrive", "domains": ["pipedrive.com"]},
            {"name": "Salesforce", "domains": ["salesforce.com"]},
            {"name": "Zoho CRM"},
            {"name": "Monday Sales CRM"},
        ],
    }
)


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((BODIES / f"{name}.json").read_text())
    return loaded


async def answer_to(
    provider: PerplexityProvider, fake_llm: FakeLLMServer, name: str, *, model: str = "sonar"
) -> Completion:
    fake_llm.config.bodies = [body(name)]
    return await provider.complete(CompletionRequest(prompt=PROMPT, model=model, grounding=True))


def marked(completion: Completion) -> list[str]:
    """The text each citation's offsets point at."""
    spans = [(c.start_index, c.end_index) for c in completion.citations]
    return [completion.text[s:e] for s, e in spans if s is not None and e is not None]


async def test_deep_research_thinking_is_reasoning_and_never_the_answer(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    raw = body("sonar_deep_research_think")
    content = raw["choices"][0]["message"]["content"]

    completion = await answer_to(provider, fake_llm, "sonar_deep_research_think")

    assert completion.text.startswith("# Best CRM for a small agency")
    assert "<think>" not in completion.text
    assert "</think>" not in completion.text
    assert completion.reasoning is not None
    assert completion.reasoning.startswith("Step 1. I need to figure out")
    assert len(completion.reasoning) > 6000
    assert len(completion.text) + len(completion.reasoning) < len(content)
    # Markers [3], [5] and [6] occur only while thinking: those results stay uncited.
    urls = [c.url for c in completion.citations]
    assert urls == [
        "https://www.hubspot.com/products/crm/agencies",
        "https://www.zapier.com/blog/best-crm-for-agencies/",
        "https://www.pipedrive.com/en/features",
    ]
    assert marked(completion) == ["[2]", "[1]", "[4]"]
    assert {s.url for s in completion.sources} == {
        "https://www.salesforce.com/small-business/pricing/",
        "https://learn.g2.com/zoho-vs-hubspot",
        "https://www.reddit.com/r/agency/comments/1abcde/what_crm_do_you_use/",
    }
    # Brands named only while thinking are not mentions.
    extraction = BrandMatcher(BRANDS).extract(
        completion.text, citations=completion.citations, sources=completion.sources
    )
    assert extraction.brands_in_order == ("HubSpot", "Pipedrive")
    assert extraction.cited_domains == ("hubspot.com", "zapier.com", "pipedrive.com")
    assert completion.answer_class is AnswerClass.COMPLETE
    assert completion.stop_reason == "stop"
    assert (completion.reasoning_tokens, completion.citation_tokens) == (61233, 14012)
    assert completion.output_tokens == 2711 + 61233, "reasoning is billed output"
    assert completion.web_searches == 18
    assert completion.searched
    assert completion.reported_cost_usd == Decimal("0.32345")
    # The price table, from the tokens and searches alone, comes to the vendor's own figure.
    unreported = dataclasses.replace(completion, reported_cost_usd=None)
    table = answer_cost("perplexity", "sonar-deep-research", unreported).total_usd
    assert table is not None
    assert abs(table - Decimal("0.32345")) < Decimal("0.00001")


async def test_whitespace_around_the_think_block_is_not_part_of_the_answer(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(
        provider, fake_llm, "sonar_reasoning_pro_think", model="sonar-reasoning-pro"
    )

    assert completion.text.startswith("HubSpot is the usual pick")
    assert completion.reasoning is not None
    assert completion.reasoning.startswith("The user wants a CRM")
    assert completion.reasoning.endswith("I'll recommend HubSpot and Pipedrive.")
    assert marked(completion) == ["[2]", "[1]", "[4]"]
    assert "salesforce.com" in completion.sources[0].url
    assert completion.reported_cost_usd == Decimal("0.00925")
    assert completion.parameters["search_context_size"] == "low"
    # A reasoning model takes no temperature: none was sent, none is recorded.
    _, sent = fake_llm.requests[-1]
    assert "temperature" not in sent
    assert "temperature" not in completion.parameters
    assert completion.parameters["max_tokens"] == sent["max_tokens"] == 2048
    assert completion.parameters["web_search_options"] == sent["web_search_options"]


async def test_reported_cost_is_the_invoice_figure_with_the_request_fee(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(provider, fake_llm, "sonar_usage_cost")

    # $0.000004 + $0.000006 of tokens and the $0.005 request fee: the figure on the invoice.
    assert completion.reported_cost_usd == Decimal("0.00501")
    assert total_cost("perplexity", "sonar", [completion]).total_usd == Decimal("0.00501")
    assert completion.answer_class is AnswerClass.COMPLETE
    assert completion.reasoning is None
    assert completion.text == "HubSpot [1]."
    assert completion.search_queries == ()  # a chat completion names no queries
    _, sent = fake_llm.requests[-1]
    assert sent["temperature"] == completion.parameters["temperature"] == 1.0


async def test_cut_off_while_thinking_is_truncated_with_an_empty_answer(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(
        provider, fake_llm, "sonar_reasoning_length_in_think", model="sonar-reasoning"
    )

    assert completion.answer_class is AnswerClass.TRUNCATED
    assert completion.stop_reason == "length"
    assert completion.text == ""
    assert completion.citations == ()  # the [2] [3] [4] were written while thinking
    assert completion.reasoning is not None
    assert completion.reasoning.startswith("The user wants a CRM. HubSpot [2]")


async def test_length_and_empty_answers_are_classified(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    cut = await answer_to(provider, fake_llm, "sonar_pro_length", model="sonar-pro")
    empty = await answer_to(provider, fake_llm, "sonar_empty")

    assert cut.answer_class is AnswerClass.TRUNCATED
    assert cut.text.endswith("and Pipedr")
    assert marked(cut) == ["[1]"]
    assert empty.answer_class is AnswerClass.EMPTY
    assert empty.stop_reason == "stop"
    assert empty.reported_cost_usd == Decimal("0.00501")


async def test_search_queries_are_read_from_reasoning_steps_when_sent(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(
        provider, fake_llm, "sonar_reasoning_pro_reasoning_steps", model="sonar-reasoning-pro"
    )

    assert completion.search_queries == (
        "best CRM for small marketing agency",
        "HubSpot vs Pipedrive agency",
        "Salesforce Starter pricing",
    )
    assert completion.web_searches == 3  # no num_search_queries in this body: the queries


@pytest.mark.parametrize(
    ("content", "answer", "reasoning", "unterminated"),
    [
        ("No block [1].", "No block [1].", None, False),
        ("<think>a [1]</think>Answer", "Answer", "a [1]", False),
        ("  \n<think>\n a \n</think>\n\n Answer\n", "Answer\n", "a", False),
        ("<think>still thinking [2]", "", "still thinking [2]", True),
        ("<think></think>", "", "", False),
        ("Answer first <think>x</think>", "Answer first <think>x</think>", None, False),
    ],
)
def test_split_think(content: str, answer: str, reasoning: str | None, unterminated: bool) -> None:
    assert split_think(content) == SplitContent(answer, reasoning, unterminated)


async def test_unterminated_think_that_stopped_is_empty_not_truncated(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    raw = body("sonar_reasoning_length_in_think")
    raw["choices"][0]["finish_reason"] = "stop"
    fake_llm.config.bodies = [raw]

    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model="sonar-reasoning"))

    assert completion.answer_class is AnswerClass.EMPTY
    assert completion.text == ""


async def test_generated_reasoning_answers_keep_their_thinking_apart(
    provider: PerplexityProvider, fake_llm: FakeLLMServer
) -> None:
    """The fake server's own answers for reasoning models open with a think block too."""
    fake_llm.config.brands = [("HubSpot", 1.0), ("Pipedrive", 1.0)]

    completion = await provider.complete(
        CompletionRequest(prompt=PROMPT, model="sonar-deep-research", grounding=True)
    )

    assert completion.reasoning is not None
    assert "Thinkwell CRM" in completion.reasoning
    assert "Thinkwell" not in completion.text
    assert "<think>" not in completion.text
    assert completion.reasoning_tokens
    for span in marked(completion):
        assert span.startswith("[")
    assert completion.answer_class is AnswerClass.COMPLETE
