"""OpenAIProvider against the fake server over real HTTP, through the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from echo_ai.providers.base import (
    AnswerClass,
    AuthenticationFailed,
    BadRequest,
    CompletionRequest,
    ConnectionFailed,
    GroundingMissing,
    MalformedResponse,
    PermissionDenied,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
    UserLocation,
)
from echo_ai.providers.openai import OpenAIProvider
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.providers.bodies import body
from tests.providers.helpers import assert_complete_raises

PROMPT = "What is the best CRM for a 10-person startup?"


@pytest.fixture
async def provider(fake_llm: FakeLLMServer) -> AsyncIterator[OpenAIProvider]:
    adapter = OpenAIProvider(api_key="sk-test", base_url=f"{fake_llm.base_url}/v1")
    yield adapter
    await adapter.aclose()


async def test_plain_answer_uses_chat_completions(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = [("HubSpot", 1.0), ("Salesforce", 1.0)]
    request = CompletionRequest(
        prompt=PROMPT, model="gpt-4o-mini", temperature=1.0, system_prompt="Be brief."
    )
    completion = await provider.complete(request)

    path, body = fake_llm.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["temperature"] == 1.0
    assert body["max_completion_tokens"] == 2048
    assert "max_tokens" not in body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": PROMPT},
    ]
    assert "HubSpot" in completion.text
    assert "Salesforce" in completion.text
    assert completion.model_version == "gpt-4o-mini"
    assert completion.input_tokens is not None
    assert completion.input_tokens > 0
    assert completion.output_tokens is not None
    assert completion.output_tokens > 0
    assert completion.latency_ms > 0
    assert completion.citations == ()
    assert completion.sources == ()
    assert not completion.searched
    assert not completion.synthetic


async def test_grounded_answer_uses_responses_web_search(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = [("HubSpot", 1.0), ("Pipedrive", 1.0), ("Zoho CRM", 1.0)]
    fake_llm.config.domains = {"HubSpot": "hubspot.com"}
    request = CompletionRequest(
        prompt=PROMPT,
        model="gpt-4.1",
        grounding=True,
        user_location=UserLocation(country="GB", city="London"),
    )
    completion = await provider.complete(request)

    path, body = fake_llm.requests[-1]
    assert path == "/v1/responses"
    assert body["include"] == ["web_search_call.action.sources"]
    assert body["tools"] == [
        {
            "type": "web_search",
            "user_location": {"type": "approximate", "country": "GB", "city": "London"},
        }
    ]
    assert completion.searched
    assert completion.search_queries == ("what is the best crm for a 10-person startup",)
    assert completion.model_version == "gpt-4.1"
    assert completion.citations, "every mentioned brand has an 85% chance of a citation"
    for citation in completion.citations:
        assert citation.start_index is not None
        assert citation.end_index is not None
        # The annotation spans the markdown link the answer shows for this URL.
        assert citation.url in completion.text[citation.start_index : citation.end_index]
    cited_hosts = {c.url.split("/")[2] for c in completion.citations}
    assert cited_hosts <= {"hubspot.com", "pipedrive.com", "zohocrm.com"}
    assert 1 <= len(completion.sources) <= 3
    assert not {s.url.split("/")[2] for s in completion.sources} & cited_hosts


async def test_grounding_required_but_no_search_fails_closed(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["no_search", "no_search"]
    lenient = CompletionRequest(prompt=PROMPT, model="gpt-4o", grounding=True)
    completion = await provider.complete(lenient)
    assert not completion.searched
    assert completion.search_queries == ()

    strict = CompletionRequest(
        prompt=PROMPT, model="gpt-4o", grounding=True, require_grounding=True
    )
    with pytest.raises(GroundingMissing):
        await provider.complete(strict)


@pytest.mark.parametrize(
    ("outcome", "error_type"),
    [
        ("500", ServerError),
        ("503", ServerError),
        ("529", ServerError),
        ("400", BadRequest),
        ("401", AuthenticationFailed),
        ("403", PermissionDenied),
        ("malformed", MalformedResponse),
    ],
)
async def test_failures_map_onto_our_errors(
    provider: OpenAIProvider, fake_llm: FakeLLMServer, outcome: str, error_type: type[Exception]
) -> None:
    fake_llm.config.script = [outcome]
    with pytest.raises(error_type):
        await provider.complete(CompletionRequest(prompt=PROMPT, model="gpt-4o"))
    assert fake_llm.request_count == 1, "SDK retries must be off"


async def test_rate_limit_carries_retry_after(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["429"]
    fake_llm.config.retry_after_seconds = 7
    with pytest.raises(RateLimited) as caught:
        await provider.complete(CompletionRequest(prompt=PROMPT, model="gpt-4o"))
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable


async def test_insufficient_quota_is_not_a_rate_limit(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.quota_exhausted = True
    with pytest.raises(QuotaExhausted) as caught:
        await provider.complete(CompletionRequest(prompt=PROMPT, model="gpt-4o", grounding=True))
    assert "insufficient_quota" in caught.value.message
    assert not caught.value.retryable


async def test_stalled_server_times_out(fake_llm: FakeLLMServer) -> None:
    fake_llm.config.script = ["hang"]
    fake_llm.config.hang_seconds = 5
    adapter = OpenAIProvider(
        api_key="sk-test", base_url=f"{fake_llm.base_url}/v1", timeout_seconds=0.3
    )
    request = CompletionRequest(prompt=PROMPT, model="gpt-4o")
    await assert_complete_raises(adapter, request, ProviderTimeout)


async def test_unreachable_server_is_a_connection_failure() -> None:
    # Port 9 (discard) on localhost is closed on any sane test machine.
    adapter = OpenAIProvider(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    request = CompletionRequest(prompt=PROMPT, model="gpt-4o")
    await assert_complete_raises(adapter, request, ConnectionFailed)


# Bodies shaped exactly as OpenAI sends them (tests/providers/bodies/openai/), through the
# SDK and the adapter.


def grounded(model: str, temperature: float = 1.0) -> CompletionRequest:
    return CompletionRequest(
        prompt=PROMPT, model=model, temperature=temperature, grounding=True, max_output_tokens=2048
    )


async def test_incomplete_response_without_a_message_is_truncated_not_an_empty_answer(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "responses_incomplete_no_message")]

    completion = await provider.complete(grounded("gpt-5-mini"))

    assert completion.answer_class is AnswerClass.TRUNCATED
    assert completion.stop_reason == "max_output_tokens"
    assert completion.text == ""
    assert (completion.output_tokens, completion.reasoning_tokens) == (2048, 2048)
    assert completion.searched
    assert completion.web_searches == 1
    assert completion.search_queries == ("best CRM for 10-person startup 2026",)
    [(_, sent)] = fake_llm.requests
    assert "temperature" not in sent, "reasoning models reject temperature"
    assert completion.parameters["temperature"] is None
    assert completion.parameters["temperature_used"] == 1.0
    assert completion.parameters["max_output_tokens"] == 2048


async def test_refusal_part_is_a_refused_answer_whose_words_are_kept(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "responses_refusal")]

    completion = await provider.complete(grounded("gpt-4.1", temperature=0.7))

    assert completion.answer_class is AnswerClass.REFUSED
    assert completion.text.startswith("I'm sorry, but I can't help")
    assert completion.stop_reason == "completed"
    [(_, sent)] = fake_llm.requests
    assert sent["temperature"] == 0.7
    assert completion.parameters["temperature"] == 0.7


async def test_content_filter_stop_is_a_refusal(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "responses_content_filter")]
    completion = await provider.complete(grounded("gpt-4o"))
    assert completion.answer_class is AnswerClass.REFUSED
    assert completion.stop_reason == "content_filter"


async def test_completed_response_without_a_message_is_empty(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "responses_completed_no_message")]
    completion = await provider.complete(grounded("gpt-4.1-mini"))
    assert completion.answer_class is AnswerClass.EMPTY
    assert completion.searched
    assert completion.web_searches == 1


async def test_opened_and_searched_pages_are_retrieved_sources_once_and_never_when_cited(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "responses_open_page_find_in_page")]

    completion = await provider.complete(grounded("gpt-5"))

    assert completion.answer_class is AnswerClass.COMPLETE
    assert [c.url for c in completion.citations] == [
        "https://www.hubspot.com/pricing/crm?utm_source=openai"
    ]
    # The search's own sources, then the pages opened or searched in; the cited page
    # (hubspot) left out, the opened pricing page (also a search source) kept once.
    assert [s.url for s in completion.sources] == [
        "https://www.pipedrive.com/en/pricing",
        "https://www.g2.com/categories/crm",
        "https://www.capterra.com/customer-relationship-management-software/",
        "https://www.zoho.com/crm/comparison.html",
    ]
    assert completion.search_queries == (
        "HubSpot CRM free plan limits 2026",
        "Pipedrive pricing small team",
    )
    # One search call is billed; opening a page or finding in it is not.
    assert completion.web_searches == 1
    assert (completion.output_tokens, completion.reasoning_tokens) == (1310, 1088)


async def test_reasoning_summary_is_kept_apart_from_the_answer(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "responses_reasoning")]

    completion = await provider.complete(grounded("o4-mini"))

    assert completion.answer_class is AnswerClass.COMPLETE
    assert completion.text.startswith("The most recommended CRMs")
    assert completion.reasoning is not None
    assert "Salesforce" in completion.reasoning
    assert "Salesforce" not in completion.text
    assert (completion.output_tokens, completion.reasoning_tokens) == (3773, 3136)
    assert completion.web_searches == 1  # tool_usage.web_search.num_requests


async def test_chat_cut_by_the_limit_is_truncated_with_its_reasoning_tokens(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "chat_length")]

    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model="o3-mini"))

    assert completion.answer_class is AnswerClass.TRUNCATED
    assert completion.stop_reason == "length"
    assert completion.text.endswith("**HubSpot CRM**")
    assert (completion.output_tokens, completion.reasoning_tokens) == (2048, 1984)
    [(path, sent)] = fake_llm.requests
    assert path == "/v1/chat/completions"
    assert "temperature" not in sent
    assert completion.parameters == {
        "endpoint": "chat.completions",
        "model": "o3-mini",
        "max_completion_tokens": 2048,
        "temperature": None,
        "temperature_used": 1.0,
    }


async def test_chat_refusal_is_refused_not_taken_for_an_answer(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "chat_refusal")]
    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model="gpt-4o"))
    assert completion.answer_class is AnswerClass.REFUSED
    assert completion.text == "I'm sorry, I can't assist with that request."
    assert completion.stop_reason == "stop"
    assert completion.reasoning_tokens == 0


@pytest.mark.parametrize(
    ("name", "answer_class", "stop_reason"),
    [
        ("chat_content_filter", AnswerClass.REFUSED, "content_filter"),
        ("chat_empty", AnswerClass.EMPTY, "stop"),
    ],
)
async def test_chat_filtered_or_empty_answers_are_classed(
    provider: OpenAIProvider,
    fake_llm: FakeLLMServer,
    name: str,
    answer_class: AnswerClass,
    stop_reason: str,
) -> None:
    fake_llm.config.bodies = [body("openai", name)]
    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model="gpt-4o-mini"))
    assert completion.answer_class is answer_class
    assert completion.stop_reason == stop_reason


async def test_search_preview_model_searches_through_chat_without_temperature(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("openai", "chat_search_preview")]
    request = CompletionRequest(
        prompt=PROMPT,
        model="gpt-4o-search-preview",
        temperature=0.3,
        grounding=True,
        require_grounding=True,
        user_location=UserLocation(country="US", city="Austin"),
    )

    completion = await provider.complete(request)

    [(path, sent)] = fake_llm.requests
    assert path == "/v1/chat/completions"
    assert "temperature" not in sent
    assert "tools" not in sent
    options = {
        "user_location": {"type": "approximate", "approximate": {"country": "US", "city": "Austin"}}
    }
    assert sent["web_search_options"] == options
    assert completion.searched
    assert completion.web_searches == 1
    assert completion.answer_class is AnswerClass.COMPLETE
    assert [c.url for c in completion.citations] == [
        "https://www.hubspot.com/products/crm?utm_source=openai",
        "https://www.zoho.com/crm/zohocrm-pricing.html?utm_source=openai",
    ]
    for citation in completion.citations:
        assert citation.start_index is not None
        assert citation.end_index is not None
        assert citation.url in completion.text[citation.start_index : citation.end_index]
    assert completion.parameters == {
        "endpoint": "chat.completions",
        "model": "gpt-4o-search-preview",
        "max_completion_tokens": 2048,
        "web_search_options": options,
        "temperature": None,
        "temperature_used": None,
    }


async def test_generated_answers_report_parameters_sent(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    request = CompletionRequest(
        prompt=PROMPT, model="gpt-4.1", temperature=2.5, grounding=True, max_output_tokens=900
    )
    completion = await provider.complete(request)
    [(_, sent)] = fake_llm.requests
    assert sent["temperature"] == 2.0, "OpenAI's temperature stops at 2"
    assert completion.answer_class is AnswerClass.COMPLETE
    assert completion.parameters == {
        "endpoint": "responses",
        "model": "gpt-4.1",
        "temperature": 2.0,
        "max_output_tokens": 900,
        "tools": [{"type": "web_search"}],
        "include": ["web_search_call.action.sources"],
        "temperature_used": 2.0,
    }
    assert completion.web_searches == len(completion.search_queries) == 1


async def test_generated_search_preview_answer_cites_through_annotations(
    provider: OpenAIProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = [("HubSpot", 1.0), ("Pipedrive", 1.0), ("Zoho CRM", 1.0)]
    request = CompletionRequest(prompt=PROMPT, model="gpt-4o-mini-search-preview", grounding=True)
    completion = await provider.complete(request)
    [(path, sent)] = fake_llm.requests
    assert path == "/v1/chat/completions"
    assert sent["web_search_options"] == {}
    assert completion.searched
    assert completion.citations
    for citation in completion.citations:
        assert citation.start_index is not None
        assert citation.url in completion.text[citation.start_index : citation.end_index]
    assert completion.reasoning_tokens == 0
