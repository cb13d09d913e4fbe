"""OpenAIProvider against the fake server over real HTTP, through the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from echo_ai.providers.base import (
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
