"""PerplexityProvider against the fake server through the official perplexityai SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from echo_ai.providers.base import (
    AuthenticationFailed,
    Citation,
    CompletionRequest,
    GroundingMissing,
    MalformedResponse,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
    UserLocation,
)
from echo_ai.providers.perplexity import PerplexityProvider, split_citations
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
