"""The Anthropic adapter, with the official SDK, against the local fake Messages API."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from anthropic.types import Message
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.providers.anthropic import (
    MAX_CONTINUATIONS,
    AnthropicProvider,
    parse_turn,
    status_error,
)
from echo_ai.providers.base import (
    AnswerClass,
    AuthenticationFailed,
    BadRequest,
    Citation,
    CompletionRequest,
    ConnectionFailed,
    GroundingMissing,
    MalformedResponse,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    ServerError,
    UserLocation,
)
from echo_ai.providers.synthetic import DEFAULT_BRANDS, SyntheticAnswer
from echo_ai.testing.fake_llm import FakeLLMServer, anthropic_wire
from tests.providers.bodies import body
from tests.providers.helpers import assert_complete_raises, closed_port_url

MODEL = "claude-sonnet-4-6"
PROMPT = "best CRM for a 10-person startup?"
CERTAIN_BRANDS = [(name, 1.0) for name, _ in DEFAULT_BRANDS[:4]]


@pytest.fixture
async def provider(fake_llm: FakeLLMServer) -> AsyncIterator[AnthropicProvider]:
    adapter = AnthropicProvider(api_key="test-key", base_url=fake_llm.base_url, timeout_seconds=5)
    yield adapter
    await adapter.aclose()


def grounded(
    *, require_grounding: bool = False, user_location: UserLocation | None = None
) -> CompletionRequest:
    return CompletionRequest(
        prompt=PROMPT,
        model=MODEL,
        grounding=True,
        require_grounding=require_grounding,
        user_location=user_location,
    )


async def test_plain_answer(provider: AnthropicProvider, fake_llm: FakeLLMServer) -> None:
    completion = await provider.complete(
        CompletionRequest(
            prompt=PROMPT, model=MODEL, system_prompt="Be brief.", max_output_tokens=300
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
    assert not completion.synthetic
    [(path, body)] = fake_llm.requests
    assert path == "/v1/messages"
    assert body["messages"] == [{"role": "user", "content": PROMPT}]
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 300
    assert "tools" not in body
    assert "temperature" not in body  # API 2026-10-21 rejects sampling parameters


async def test_grounded_answer_has_citations_with_offsets_and_sources_apart(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = CERTAIN_BRANDS

    completion = await provider.complete(grounded())

    assert completion.searched is True
    assert completion.search_queries == ("best crm for a 10-person startup",)
    assert completion.citations
    for citation in completion.citations:
        assert citation.start_index is not None
        assert citation.end_index is not None
        span = completion.text[citation.start_index : citation.end_index]
        assert span  # the fake quotes the cited span itself as ``cited_text``
        assert span == citation.cited_text
        assert citation.url.startswith("https://")
    cited = {citation.url for citation in completion.citations}
    assert completion.sources
    assert not cited & {source.url for source in completion.sources}
    assert len({s.url for s in completion.sources}) == len(completion.sources)
    assert completion.output_tokens is not None
    assert completion.output_tokens > 0


async def test_grounding_request_sends_the_web_search_tool_with_location(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    location = UserLocation(country="US", city="Austin", region="Texas", timezone="America/Chicago")

    await provider.complete(grounded(user_location=location))

    [(_, body)] = fake_llm.requests
    assert body["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "max_uses": 5,
            "user_location": {
                "type": "approximate",
                "city": "Austin",
                "region": "Texas",
                "country": "US",
                "timezone": "America/Chicago",
            },
        }
    ]


async def test_missing_search_fails_only_when_grounding_is_required(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["no_search", "no_search"]

    completion = await provider.complete(grounded())
    assert completion.searched is False
    assert completion.citations == ()

    with pytest.raises(GroundingMissing):
        await provider.complete(grounded(require_grounding=True))


async def test_rate_limit_carries_retry_after_and_is_not_retried_by_the_sdk(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["429"]
    fake_llm.config.retry_after_seconds = 7

    with pytest.raises(RateLimited) as caught:
        await provider.complete(grounded())

    assert caught.value.retry_after == 7.0
    assert caught.value.status_code == 429
    assert caught.value.retryable
    assert fake_llm.request_count == 1


@pytest.mark.parametrize(
    ("outcome", "error", "status"),
    [
        ("529", ServerError, 529),
        ("500", ServerError, 500),
        ("quota", QuotaExhausted, 429),
        ("401", AuthenticationFailed, 401),
        ("400", BadRequest, 400),
    ],
)
async def test_status_failures_map_to_our_errors_after_one_request(
    provider: AnthropicProvider,
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
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.script = ["malformed"]

    with pytest.raises(MalformedResponse):
        await provider.complete(grounded())


async def test_stalled_server_times_out(fake_llm: FakeLLMServer) -> None:
    fake_llm.config.script = ["hang"]
    fake_llm.config.hang_seconds = 3
    adapter = AnthropicProvider(api_key="k", base_url=fake_llm.base_url, timeout_seconds=0.3)
    await assert_complete_raises(adapter, grounded(), ProviderTimeout)
    assert fake_llm.request_count == 1


async def test_unreachable_server_is_a_connection_failure() -> None:
    adapter = AnthropicProvider(api_key="k", base_url=closed_port_url())
    await assert_complete_raises(adapter, grounded(), ConnectionFailed)


def test_credit_balance_400_is_an_exhausted_quota_not_a_bad_request() -> None:
    body = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "Your credit balance is too low to access the Anthropic API.",
        },
    }
    error = status_error(400, body, {})
    assert isinstance(error, QuotaExhausted)
    assert not error.retryable


def test_spend_limit_and_billing_errors_are_exhausted_quotas() -> None:
    spend = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "You have reached your specified API usage limits.",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
    }
    billing = {"type": "error", "error": {"type": "billing_error", "message": "Card declined."}}
    assert isinstance(status_error(429, spend, {"retry-after": "5"}), QuotaExhausted)
    assert isinstance(status_error(402, billing, {}), QuotaExhausted)


def test_other_statuses_follow_the_shared_mapping() -> None:
    plain_400 = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    assert isinstance(status_error(400, plain_400, {}), BadRequest)
    rate_limited = status_error(429, limited, {"retry-after": "12"})
    assert isinstance(rate_limited, RateLimited)
    assert rate_limited.retry_after == 12.0
    assert isinstance(status_error(529, "not json", {}), ServerError)
    assert "529" in status_error(529, None, {}).message


class CannedMessagesAPI:
    """A bare local HTTP server answering each POST with the next canned Messages body.

    The fake LLM server never pauses a turn, so this one plays the two responses of a turn
    that Anthropic paused (``stop_reason: pause_turn``) and then finished.
    """

    def __init__(self, bodies: list[dict[str, object]]) -> None:
        self.bodies = bodies
        self.received: list[dict[str, object]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                api.received.append(json.loads(self.rfile.read(length)))
                payload = json.dumps(api.bodies.pop(0)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> CannedMessagesAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def message_body(
    content: list[dict[str, object]], stop_reason: str, searches: int
) -> dict[str, object]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 10,
            "server_tool_use": {"web_search_requests": searches, "web_fetch_requests": 0},
        },
    }


async def test_paused_turn_is_continued_and_glued_into_one_answer() -> None:
    search = [
        {"type": "text", "text": "I'll look that up."},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {"query": "best crm"},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": [
                {
                    "type": "web_search_result",
                    "url": "https://hubspot.com/",
                    "title": "HubSpot",
                    "encrypted_content": "x",
                },
                {
                    "type": "web_search_result",
                    "url": "https://g2.com/",
                    "title": "G2",
                    "encrypted_content": "y",
                },
            ],
        },
    ]
    answer = [
        {"type": "text", "text": "Top pick: "},
        {
            "type": "text",
            "text": "HubSpot is free to start.",
            "citations": [
                {
                    "type": "web_search_result_location",
                    "url": "https://hubspot.com/",
                    "title": "HubSpot",
                    "cited_text": "Get started free.",
                    "encrypted_index": "z",
                }
            ],
        },
    ]
    bodies = [message_body(search, "pause_turn", 1), message_body(answer, "end_turn", 0)]
    with CannedMessagesAPI(bodies) as api:
        adapter = AnthropicProvider(api_key="k", base_url=api.base_url)
        try:
            completion = await adapter.complete(grounded(require_grounding=True))
        finally:
            await adapter.aclose()

    assert completion.text == "I'll look that up.\n\nTop pick: HubSpot is free to start."
    [citation] = completion.citations
    assert citation.start_index is not None
    assert citation.end_index is not None
    assert completion.text[citation.start_index : citation.end_index] == "HubSpot is free to start."
    assert citation.cited_text == "Get started free."
    assert [source.url for source in completion.sources] == ["https://g2.com/"]
    assert completion.search_queries == ("best crm",)
    assert (completion.input_tokens, completion.output_tokens) == (200, 20)
    first, second = api.received
    assert first["messages"] == [{"role": "user", "content": PROMPT}]
    assert second["messages"] == [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": search},
    ]


@given(
    text=st.text(min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6),
)
def test_wire_spans_survive_the_round_trip_through_text_blocks(text: str, cuts: list[int]) -> None:
    points = sorted({min(cut, len(text)) for cut in cuts})
    spans = [(a, b) for a, b in zip(points[::2], points[1::2], strict=False) if a < b]
    cited = tuple(
        Citation(url=f"https://c{i}.example/", start_index=a, end_index=b)
        for i, (a, b) in enumerate(spans)
    )
    answer = SyntheticAnswer(text, cited, (), ("q",), 1, 1)
    body = anthropic_wire.success_body({}, {}, answer, model="m", searched=True)

    completion = parse_turn([Message.model_validate(body)], latency_ms=1)

    assert completion.text == text
    got = {(c.url, c.start_index, c.end_index) for c in completion.citations}
    assert got == {(c.url, c.start_index, c.end_index) for c in cited}
    assert completion.searched is True


# Bodies shaped exactly as Anthropic sends them (tests/providers/bodies/anthropic/), through
# the SDK and the adapter.


@pytest.mark.parametrize(
    ("name", "answer_class", "stop_reason"),
    [
        ("max_tokens", AnswerClass.TRUNCATED, "max_tokens"),
        ("refusal", AnswerClass.REFUSED, "refusal"),
        ("empty", AnswerClass.EMPTY, "end_turn"),
    ],
)
async def test_stop_reasons_class_the_answer(
    provider: AnthropicProvider,
    fake_llm: FakeLLMServer,
    name: str,
    answer_class: AnswerClass,
    stop_reason: str,
) -> None:
    fake_llm.config.bodies = [body("anthropic", name)]
    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model=MODEL))
    assert completion.answer_class is answer_class
    assert completion.stop_reason == stop_reason
    assert fake_llm.request_count == 1


async def test_truncated_answer_keeps_its_partial_text(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("anthropic", "max_tokens")]
    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model=MODEL))
    assert completion.text.endswith("2. **Pipedrive** – built around")
    assert completion.output_tokens == 40


async def test_web_searches_are_the_billed_search_requests(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("anthropic", "web_search")]

    completion = await provider.complete(grounded(require_grounding=True))

    assert completion.answer_class is AnswerClass.COMPLETE
    assert completion.web_searches == 2
    assert completion.searched
    assert completion.search_queries == (
        "best CRM for small startups 2026",
        "Pipedrive vs HubSpot small team",
    )
    [citation] = completion.citations
    assert citation.url == "https://www.hubspot.com/products/crm"
    assert citation.start_index is not None
    assert completion.text[citation.start_index : citation.end_index].startswith("HubSpot CRM")
    assert [s.url for s in completion.sources] == [
        "https://zapier.com/blog/best-crm-app/",
        "https://www.pipedrive.com/en/blog/pipedrive-vs-hubspot",
    ]
    assert completion.parameters["tools"] == [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
    ]


async def test_thinking_is_reasoning_never_the_answer(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.bodies = [body("anthropic", "thinking")]
    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model=MODEL))
    assert completion.text == "HubSpot CRM or Pipedrive are the usual choices for a team of ten."
    assert completion.reasoning is not None
    assert "Salesforce" in completion.reasoning
    assert "Salesforce" not in completion.text
    assert completion.answer_class is AnswerClass.COMPLETE


async def test_temperature_is_never_sent_and_the_one_used_is_recorded(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    # API version 2026-10-21 answers 400 to any temperature: Claude samples at 1.0.
    request = CompletionRequest(prompt=PROMPT, model=MODEL, temperature=1.5, max_output_tokens=700)
    completion = await provider.complete(request)
    [(_, sent)] = fake_llm.requests
    assert "temperature" not in sent
    assert completion.parameters == {
        "endpoint": "messages",
        "api_version": "2026-10-21",
        "model": MODEL,
        "max_tokens": 700,
        "temperature": None,
        "temperature_used": 1.0,
    }


async def test_turn_still_paused_after_the_continuations_is_truncated(
    provider: AnthropicProvider, fake_llm: FakeLLMServer
) -> None:
    paused = message_body([{"type": "text", "text": "Let me search."}], "pause_turn", 1)
    fake_llm.config.bodies = [dict(paused) for _ in range(MAX_CONTINUATIONS + 1)]

    completion = await provider.complete(grounded())

    assert fake_llm.request_count == MAX_CONTINUATIONS + 1
    assert completion.answer_class is AnswerClass.TRUNCATED
    assert completion.stop_reason == "pause_turn"
    assert completion.web_searches == MAX_CONTINUATIONS + 1
