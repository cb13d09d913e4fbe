"""The fake server's Anthropic bodies must be ones the real SDK reads as real responses."""

from __future__ import annotations

import random

import anthropic
from anthropic.types import Message
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.providers import errors
from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import DEFAULT_BRANDS, SyntheticAnswer, generate_answer
from echo_ai.testing.fake_llm import anthropic_wire

CERTAIN_BRANDS = [(name, 1.0) for name, _ in DEFAULT_BRANDS[:4]]
REQUEST = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "best CRM for a 10-person startup?"}],
    "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
}


def grounded_answer(seed: int = 1) -> SyntheticAnswer:
    answer = generate_answer(
        "best CRM for a 10-person startup?",
        CERTAIN_BRANDS,
        rng=random.Random(seed),
        grounding=True,
    )
    assert answer.citations, "the seed must give an answer with citations"
    return answer


def test_grounded_body_is_a_messages_response_with_search_blocks_then_cited_text() -> None:
    answer = grounded_answer()
    body = anthropic_wire.success_body(
        REQUEST, {}, answer, model="claude-sonnet-4-6", searched=True
    )
    message = Message.model_validate(body)

    kinds = [block.type for block in message.content]
    assert kinds[:2] == ["server_tool_use", "web_search_tool_result"]
    assert set(kinds[2:]) == {"text"}
    tool_use = message.content[0]
    assert isinstance(tool_use, anthropic.types.ServerToolUseBlock)
    assert tool_use.name == "web_search"
    assert tool_use.input == {"query": answer.search_queries[0]}
    results = message.content[1]
    assert isinstance(results, anthropic.types.WebSearchToolResultBlock)
    assert isinstance(results.content, list)
    assert results.tool_use_id == tool_use.id
    retrieved = [result.url for result in results.content]
    expected = {c.url for c in answer.citations} | {s.url for s in answer.sources}
    assert sorted(retrieved) == sorted(expected)

    texts = [b for b in message.content if isinstance(b, anthropic.types.TextBlock)]
    assert "".join(block.text for block in texts) == answer.text
    for citation in answer.citations:
        carrying = [
            block.text
            for block in texts
            if any(location.url == citation.url for location in block.citations or ())
        ]
        assert "".join(carrying) == answer.text[citation.start_index : citation.end_index]
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == len(answer.search_queries)
    assert message.usage.input_tokens == answer.input_tokens
    assert message.model == "claude-sonnet-4-6"


def test_citation_locations_carry_the_fields_the_sdk_requires() -> None:
    message = Message.model_validate(
        anthropic_wire.success_body(REQUEST, {}, grounded_answer(), model="m", searched=True)
    )
    locations = [
        location
        for block in message.content
        if isinstance(block, anthropic.types.TextBlock)
        for location in block.citations or ()
    ]
    assert locations
    for location in locations:
        assert isinstance(location, anthropic.types.CitationsWebSearchResultLocation)
        assert location.encrypted_index
        assert 0 < len(location.cited_text) <= 150


def test_unsearched_body_is_one_plain_text_block() -> None:
    answer = generate_answer("hi", DEFAULT_BRANDS, rng=random.Random(3))
    message = Message.model_validate(
        anthropic_wire.success_body(REQUEST, {}, answer, model="m", searched=False)
    )
    assert len(message.content) == 1
    block = message.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text == answer.text
    assert block.citations is None
    assert message.usage.server_tool_use is None
    assert message.stop_reason == "end_turn"


def test_several_queries_each_get_a_tool_call_and_share_the_pages() -> None:
    pages = tuple(Citation(url=f"https://site{i}.example/", title=f"Site {i}") for i in range(5))
    answer = SyntheticAnswer(
        text="Plain text.",
        citations=(),
        sources=pages,
        search_queries=("first query", "second query"),
        input_tokens=5,
        output_tokens=3,
    )
    message = Message.model_validate(
        anthropic_wire.success_body(REQUEST, {}, answer, model="m", searched=True)
    )
    calls = [b for b in message.content if isinstance(b, anthropic.types.ServerToolUseBlock)]
    assert [call.input["query"] for call in calls] == ["first query", "second query"]
    urls = [
        result.url
        for block in message.content
        if isinstance(block, anthropic.types.WebSearchToolResultBlock)
        and isinstance(block.content, list)
        for result in block.content
    ]
    assert sorted(urls) == sorted(page.url for page in pages)


@given(
    text=st.text(min_size=1, max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=60), min_size=0, max_size=8),
)
def test_text_blocks_rebuild_the_text_and_each_citation_covers_exactly_its_span(
    text: str, cuts: list[int]
) -> None:
    points = sorted({min(cut, len(text)) for cut in cuts})
    spans = [(a, b) for a, b in zip(points[::2], points[1::2], strict=False) if a < b]
    citations = tuple(
        Citation(url=f"https://c{i}.example/", start_index=a, end_index=b)
        for i, (a, b) in enumerate(spans)
    )
    answer = SyntheticAnswer(text, citations, (), ("q",), 1, 1)
    body = anthropic_wire.success_body(REQUEST, {}, answer, model="m", searched=True)
    blocks = [block for block in body["content"] if block["type"] == "text"]
    assert "".join(block["text"] for block in blocks) == text
    for citation in citations:
        covered = "".join(
            block["text"]
            for block in blocks
            if any(c["url"] == citation.url for c in block["citations"] or ())
        )
        assert covered == text[citation.start_index : citation.end_index]


def test_request_readers() -> None:
    assert anthropic_wire.prompt_from(REQUEST) == "best CRM for a 10-person startup?"
    as_blocks = {
        "messages": [
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "reply"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "latest "}, {"type": "text", "text": "one"}],
            },
        ]
    }
    assert anthropic_wire.prompt_from(as_blocks) == "latest one"
    assert anthropic_wire.prompt_from({}) == ""
    assert anthropic_wire.grounding_from(REQUEST) is True
    assert anthropic_wire.grounding_from({"tools": [{"type": "custom", "name": "x"}]}) is False
    assert anthropic_wire.grounding_from({}) is False
    assert anthropic_wire.model_from(REQUEST, {}) == "claude-sonnet-4-6"


def test_error_bodies_use_anthropic_types() -> None:
    expected = {
        "rate_limit": "rate_limit_error",
        "overloaded": "overloaded_error",
        "server": "api_error",
        "auth": "authentication_error",
        "permission": "permission_error",
        "invalid_request": "invalid_request_error",
    }
    for kind, error_type in expected.items():
        body = anthropic_wire.error_body(400, "boom", kind=kind)
        assert body["type"] == "error"
        assert body["error"] == {"type": error_type, "message": "boom"}


def test_quota_error_is_worded_like_anthropic_so_it_reads_as_exhausted_credit() -> None:
    body = anthropic_wire.error_body(400, "whatever the server says", kind="quota")
    assert body["error"]["type"] == "invalid_request_error"
    assert "credit balance is too low" in body["error"]["message"]
    assert errors.is_quota_message(body["error"]["message"])
