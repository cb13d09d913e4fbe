"""The Gemini adapter, with google-genai, against the local fake ``generateContent`` API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.citations import attributable_url
from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.providers.base import (
    AnswerClass,
    AuthenticationFailed,
    BadRequest,
    Citation,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    GroundingMissing,
    MalformedResponse,
    PermissionDenied,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from echo_ai.providers.gemini import (
    GeminiProvider,
    billable_searches,
    parse_response,
    segment_span,
    status_error,
)
from echo_ai.providers.synthetic import DEFAULT_BRANDS, SyntheticAnswer
from echo_ai.testing.fake_llm import FakeLLMServer, gemini_wire
from tests.providers.helpers import assert_complete_raises, closed_port_url

MODEL = "gemini-2.5-flash"
PROMPT = "best CRM for a 10-person startup?"
CERTAIN_BRANDS = [(name, 1.0) for name, _ in DEFAULT_BRANDS[:4]]
QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."


@pytest.fixture
async def provider(fake_llm: FakeLLMServer) -> AsyncIterator[GeminiProvider]:
    adapter = GeminiProvider(api_key="test-key", base_url=fake_llm.base_url, timeout_seconds=5)
    yield adapter
    await adapter.aclose()


def grounded(*, require_grounding: bool = False) -> CompletionRequest:
    return CompletionRequest(
        prompt=PROMPT, model=MODEL, grounding=True, require_grounding=require_grounding
    )


async def test_plain_answer(provider: GeminiProvider, fake_llm: FakeLLMServer) -> None:
    completion = await provider.complete(
        CompletionRequest(
            prompt=PROMPT,
            model=MODEL,
            temperature=1.0,
            max_output_tokens=300,
            system_prompt="Be brief.",
        )
    )

    assert completion.text
    assert completion.model_version == MODEL
    assert completion.input_tokens is not None
    assert completion.input_tokens > 0
    assert completion.output_tokens is not None
    assert completion.output_tokens > 0
    assert completion.latency_ms > 0
    assert (completion.citations, completion.sources, completion.search_queries) == ((), (), ())
    assert completion.searched is False
    [(path, body)] = fake_llm.requests
    assert path.endswith(f"/models/{MODEL}:generateContent")
    assert body["contents"] == [{"parts": [{"text": PROMPT}], "role": "user"}]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["generationConfig"] == {"temperature": 1.0, "maxOutputTokens": 300}
    assert "tools" not in body


async def test_grounded_answer_has_citations_with_character_offsets_and_sources_apart(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = CERTAIN_BRANDS

    completion = await provider.complete(grounded())

    [(_, body)] = fake_llm.requests
    assert body["tools"] == [{"googleSearch": {}}]
    assert completion.searched is True
    assert completion.search_queries == ("best crm for a 10-person startup",)
    assert len(completion.text.encode()) > len(completion.text)  # byte and char offsets differ
    assert completion.citations
    for citation in completion.citations:
        assert citation.start_index is not None
        assert citation.end_index is not None
        span = completion.text[citation.start_index : citation.end_index]
        # Each synthetic citation is a brand's own line, linking to the brand's domain.
        brand = next(name for name, _ in CERTAIN_BRANDS if name in span)
        assert brand.split()[0].lower() in citation.url
    cited = {citation.url for citation in completion.citations}
    assert completion.sources
    assert not cited & {source.url for source in completion.sources}


async def test_missing_search_fails_only_when_grounding_is_required(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["no_search", "no_search"]

    completion = await provider.complete(grounded())
    assert completion.searched is False

    with pytest.raises(GroundingMissing):
        await provider.complete(grounded(require_grounding=True))


async def test_rate_limit_carries_retry_after_and_is_not_retried_by_the_sdk(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["429"]
    fake_llm.config.retry_after_seconds = 7

    with pytest.raises(RateLimited) as caught:
        await provider.complete(grounded())

    assert caught.value.retry_after == 7.0
    assert fake_llm.request_count == 1


@pytest.mark.parametrize(
    ("outcome", "error", "status"),
    [
        ("529", ServerError, 529),
        ("503", ServerError, 503),
        ("quota", QuotaExhausted, 429),
        ("401", AuthenticationFailed, 401),
        ("403", PermissionDenied, 403),
        ("400", BadRequest, 400),
    ],
)
async def test_status_failures_map_to_our_errors_after_one_request(
    provider: GeminiProvider,
    fake_llm: FakeLLMServer,
    outcome: str,
    error: type[Exception],
    status: int,
) -> None:
    fake_llm.config.script = [outcome]

    with pytest.raises(error) as caught:
        await provider.complete(grounded())

    assert getattr(caught.value, "status_code", None) == status
    assert fake_llm.request_count == 1


async def test_truncated_body_is_malformed(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["malformed"]

    with pytest.raises(MalformedResponse):
        await provider.complete(grounded())


async def test_stalled_server_times_out(fake_llm: FakeLLMServer) -> None:
    fake_llm.config.script = ["hang"]
    fake_llm.config.hang_seconds = 3
    adapter = GeminiProvider(api_key="k", base_url=fake_llm.base_url, timeout_seconds=0.3)
    await assert_complete_raises(adapter, grounded(), ProviderTimeout)
    assert fake_llm.request_count == 1


async def test_unreachable_server_is_a_connection_failure() -> None:
    adapter = GeminiProvider(api_key="k", base_url=closed_port_url())
    await assert_complete_raises(adapter, grounded(), ConnectionFailed)


def quota_failure(quota_id: str) -> dict[str, object]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generate_content_requests", "quotaId": quota_id}],
    }


def resource_exhausted(message: str, *details: dict[str, object]) -> dict[str, object]:
    return {
        "error": {
            "code": 429,
            "message": message,
            "status": "RESOURCE_EXHAUSTED",
            "details": list(details),
        }
    }


def test_per_minute_quota_is_a_rate_limit_waiting_as_retry_info_says() -> None:
    body = resource_exhausted(
        QUOTA_MESSAGE,
        quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "45.5s"},
    )
    error = status_error(429, body, {})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 45.5


def test_retry_after_header_wins_and_message_hint_is_a_fallback() -> None:
    body = resource_exhausted(QUOTA_MESSAGE + " Please retry in 12.25s.")
    assert status_error(429, body, {"Retry-After": "3"}).retry_after == 3.0
    assert status_error(429, body, {}).retry_after == 12.25
    assert status_error(429, resource_exhausted("Resource exhausted."), {}).retry_after is None


def test_daily_or_zero_quota_is_exhausted_not_rate_limited() -> None:
    daily = resource_exhausted(
        QUOTA_MESSAGE,
        quota_failure("GenerateRequestsPerMinutePerProjectPerModel"),
        quota_failure("GenerateRequestsPerDayPerProjectPerModel"),
    )
    zero = resource_exhausted(
        QUOTA_MESSAGE + "\n* Quota exceeded for metric: generate_content_free_tier_requests, "
        "limit: 0, model: gemini-3-pro"
    )
    assert isinstance(status_error(429, daily, {}), QuotaExhausted)
    assert isinstance(status_error(429, zero, {}), QuotaExhausted)


def test_invalid_api_key_400_is_an_authentication_failure() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ],
        }
    }
    plain = {"error": {"code": 400, "message": "bad field", "status": "INVALID_ARGUMENT"}}
    assert isinstance(status_error(400, body, {}), AuthenticationFailed)
    assert isinstance(status_error(400, plain, {}), BadRequest)
    assert isinstance(status_error(500, {"message": "x"}, {}), ServerError)


def test_segment_bytes_become_character_offsets_within_their_part() -> None:
    pieces = {0: "Intro “quoted” — ", 2: "Zoë’s pick: HubSpot."}
    starts = {0: 0, 2: len(pieces[0])}
    text = "".join(pieces.values())
    first = pieces[2].encode().index(b"HubSpot")
    segment = types.Segment(part_index=2, start_index=first, end_index=first + len(b"HubSpot"))

    span = segment_span(segment, pieces, starts, text)

    assert span is not None
    assert text[span[0] : span[1]] == "HubSpot"


def test_segment_falls_back_to_its_text_when_offsets_do_not_line_up() -> None:
    pieces = {0: "Café — HubSpot leads."}
    text = pieces[0]
    wrong = types.Segment(start_index=0, end_index=4, text="HubSpot leads.")
    lost = types.Segment(start_index=0, end_index=400, text="not in the answer")

    span = segment_span(wrong, pieces, {0: 0}, text)

    assert span is not None
    assert text[span[0] : span[1]] == "HubSpot leads."
    assert segment_span(lost, pieces, {0: 0}, text) is None


def test_thought_parts_are_left_out_and_tokens_count_what_is_billed() -> None:
    response = types.GenerateContentResponse.model_validate(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"text": "Let me think about CRMs.", "thought": True},
                            {"text": "Pick “HubSpot”."},
                        ],
                    },
                    "finishReason": "STOP",
                    "groundingMetadata": {
                        "webSearchQueries": ["best crm"],
                        "groundingChunks": [
                            {"web": {"uri": "https://hubspot.com/", "title": "hubspot.com"}},
                            {"web": {"uri": "https://g2.com/", "title": "g2.com"}},
                        ],
                        "groundingSupports": [
                            {
                                "segment": {
                                    "partIndex": 1,
                                    "endIndex": len("Pick “HubSpot”.".encode()),
                                    "text": "Pick “HubSpot”.",
                                },
                                "groundingChunkIndices": [0, 7],
                            }
                        ],
                    },
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "toolUsePromptTokenCount": 90,
                "candidatesTokenCount": 5,
                "thoughtsTokenCount": 20,
            },
            "modelVersion": "gemini-2.5-pro",
        }
    )

    completion = parse_response(response, latency_ms=12.0)

    assert completion.text == "Pick “HubSpot”."
    [citation] = completion.citations
    assert citation.url == "https://hubspot.com/"
    assert (citation.start_index, citation.end_index) == (0, len(completion.text))
    assert [source.url for source in completion.sources] == ["https://g2.com/"]
    assert (completion.input_tokens, completion.output_tokens) == (100, 25)
    assert completion.searched is True


def test_a_candidate_with_neither_parts_nor_finish_reason_is_malformed() -> None:
    """Not a finished answer of any class: the call is retried."""
    empty = types.GenerateContentResponse.model_validate({"candidates": [{}]})
    with pytest.raises(MalformedResponse):
        parse_response(empty, latency_ms=1.0)


@given(
    text=st.text(min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
)
def test_wire_spans_survive_the_round_trip_through_byte_offsets(text: str, cuts: list[int]) -> None:
    points = sorted({min(cut, len(text)) for cut in cuts})
    spans = [(a, b) for a, b in zip(points[::2], points[1::2], strict=False) if a < b]
    cited = tuple(
        Citation(url=f"https://c{i}.example/", start_index=a, end_index=b)
        for i, (a, b) in enumerate(spans)
    )
    answer = SyntheticAnswer(text, cited, (), ("q",), 1, 1)
    body = gemini_wire.success_body({}, {}, answer, model="m", searched=True)
    for support in body["candidates"][0]["groundingMetadata"]["groundingSupports"]:
        del support["segment"]["text"]  # leave only the byte offsets to go by

    completion = parse_response(types.GenerateContentResponse.model_validate(body), latency_ms=1)

    assert completion.text == text
    got = {(c.url, c.start_index, c.end_index) for c in completion.citations}
    assert got == {(c.url, c.start_index, c.end_index) for c in cited}


# Bodies shaped as the Gemini API sends them (tests/providers/bodies/gemini/), through
# google-genai and the adapter.

BODIES = Path(__file__).parent / "bodies" / "gemini"
REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
BRANDS = BrandSet.model_validate(
    {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [
            {"name": "Pipedrive", "domains": ["pipedrive.com"]},
            {"name": "Salesforce", "domains": ["salesforce.com"]},
            {"name": "Zoho CRM", "aliases": ["Zoho"]},
            {"name": "Monday Sales CRM"},
        ],
    }
)


async def answer_to(
    provider: GeminiProvider,
    fake_llm: FakeLLMServer,
    name: str,
    *,
    model: str = MODEL,
    require_grounding: bool = False,
) -> Completion:
    fake_llm.config.bodies = [json.loads((BODIES / f"{name}.json").read_text())]
    return await provider.complete(
        CompletionRequest(
            prompt=PROMPT, model=model, grounding=True, require_grounding=require_grounding
        )
    )


async def test_thinking_that_used_the_whole_limit_is_truncated(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(provider, fake_llm, "max_tokens_no_parts")

    assert completion.answer_class is AnswerClass.TRUNCATED
    assert completion.stop_reason == "MAX_TOKENS"
    assert completion.text == ""
    assert (completion.output_tokens, completion.reasoning_tokens) == (2043, 2043)


async def test_answer_cut_off_by_the_limit_is_truncated(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(provider, fake_llm, "max_tokens_partial")

    assert completion.answer_class is AnswerClass.TRUNCATED
    assert completion.text.endswith("whose free CRM covers")
    assert completion.output_tokens == 16 + 1000  # thoughts are billed as output


@pytest.mark.parametrize(
    ("name", "reason", "input_tokens"),
    [("safety", "SAFETY", 14), ("prompt_blocked", "PROHIBITED_CONTENT", 14)],
)
async def test_safety_stops_and_blocked_prompts_are_refusals(
    provider: GeminiProvider,
    fake_llm: FakeLLMServer,
    name: str,
    reason: str,
    input_tokens: int,
) -> None:
    # Grounding required: a refusal is still a refusal, not a missing search.
    completion = await answer_to(provider, fake_llm, name, require_grounding=True)

    assert completion.answer_class is AnswerClass.REFUSED
    assert completion.searched is False
    assert completion.stop_reason == reason
    assert completion.text == ""
    assert completion.input_tokens == input_tokens  # billed, so kept


async def test_an_empty_text_part_is_an_empty_answer(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(provider, fake_llm, "empty_text_part", model="gemini-2.5-pro")

    assert completion.answer_class is AnswerClass.EMPTY
    assert completion.stop_reason == "STOP"
    assert completion.reasoning_tokens == 312


async def test_thought_parts_are_reasoning_never_the_answer(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(provider, fake_llm, "thought_parts", model="gemini-2.5-pro")

    assert completion.text == (
        "For a 10‑person agency, HubSpot is the safest pick; Pipedrive is cheaper per seat."
    )
    assert completion.reasoning is not None
    assert completion.reasoning.startswith("**Weighing the options**")
    assert "Salesforce" in completion.reasoning
    assert completion.answer_class is AnswerClass.COMPLETE
    # candidatesTokenCount leaves the thoughts out; both are billed as output.
    assert (completion.output_tokens, completion.reasoning_tokens) == (21 + 486, 486)
    extraction = BrandMatcher(BRANDS).extract(completion.text)
    assert extraction.brands_in_order == ("HubSpot", "Pipedrive")


async def test_citations_are_credited_by_domain_then_domain_title_never_to_google(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(provider, fake_llm, "grounding_titles_and_domains")

    urls = [c.url for c in completion.citations]
    assert urls == [
        REDIRECT + "AUZIYQGq0tD1xk3Hn4b0",
        REDIRECT + "AUZIYQF7mVt2bZr8Qp1c",
        REDIRECT + "AUZIYQHc5sLw9Yk2Nd7e",
    ]
    assert [c.domain for c in completion.citations] == [None, None, "salesforce.com"]
    assert [attributable_url(c) for c in completion.citations] == [
        "https://hubspot.com",
        REDIRECT + "AUZIYQF7mVt2bZr8Qp1c",  # a page title: left uncredited
        "https://salesforce.com",
    ]
    [source] = completion.sources
    assert source.title == "Best CRM software for agencies – reviews"
    assert attributable_url(source) == source.url
    extraction = BrandMatcher(BRANDS).extract(
        completion.text, citations=completion.citations, sources=completion.sources
    )
    assert extraction.cited_domains == ("hubspot.com", "salesforce.com")
    assert extraction.brand_citations["HubSpot"] == ("https://hubspot.com",)
    assert extraction.brand_citations["Salesforce"] == ("https://salesforce.com",)
    assert extraction.brand_sources == {}
    assert completion.search_queries == (
        "best CRM for small marketing agency 2026",
        "Salesforce Starter price per user",
    )
    assert completion.web_searches == 1  # Gemini 2.5: one fee per grounded prompt
    assert completion.input_tokens == 12 + 212  # search results read count as input
    assert completion.output_tokens == 40 + 350


async def test_tool_use_tokens_mean_a_search_happened_without_metadata(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(
        provider, fake_llm, "tool_use_without_metadata", require_grounding=True
    )

    assert completion.searched is True
    assert completion.web_searches == 1
    assert (completion.citations, completion.sources, completion.search_queries) == ((), (), ())


async def test_gemini_3_counts_each_distinct_query_it_ran(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await answer_to(
        provider, fake_llm, "gemini_3_queries", model="gemini-3-pro-preview"
    )

    assert completion.web_searches == 2  # empty queries are not billed, a repeat once
    assert completion.answer_class is AnswerClass.COMPLETE
    [citation] = completion.citations
    assert attributable_url(citation) == "https://hubspot.com"


async def test_sent_parameters_are_recorded(
    provider: GeminiProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await provider.complete(
        CompletionRequest(
            prompt=PROMPT, model=MODEL, temperature=2.5, max_output_tokens=300, grounding=True
        )
    )

    [(_, body)] = fake_llm.requests
    assert body["generationConfig"] == {"temperature": 2.0, "maxOutputTokens": 300}
    assert completion.parameters == {
        "temperature": 2.0,  # the most Gemini takes
        "max_output_tokens": 300,
        "tools": ["google_search"],
    }


@pytest.mark.parametrize(
    ("model", "queries", "searched", "expected"),
    [
        ("gemini-2.5-flash", ["a", "b", "c"], True, 1),
        ("gemini-2.0-flash", [], True, 1),
        ("gemini-2.5-flash", [], False, 0),
        ("gemini-3-flash-preview", ["a", " a ", "", "b"], True, 2),
        ("models/gemini-3-pro-preview", [], True, 1),
        ("gemini-3-pro-preview", [], False, 0),
    ],
)
def test_billable_searches(model: str, queries: list[str], searched: bool, expected: int) -> None:
    assert billable_searches(model, queries, searched=searched) == expected
