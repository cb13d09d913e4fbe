"""The fake server's Gemini bodies must be ones google-genai reads as real responses."""

from __future__ import annotations

import random

from google.genai import errors as genai_errors
from google.genai import types
from starlette.routing import compile_path

from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import DEFAULT_BRANDS, SyntheticAnswer, generate_answer
from echo_ai.testing.fake_llm import gemini_wire

CERTAIN_BRANDS = [(name, 1.0) for name, _ in DEFAULT_BRANDS[:4]]
REQUEST = {
    "contents": [{"parts": [{"text": "best CRM for a 10-person startup?"}], "role": "user"}],
    "tools": [{"googleSearch": {}}],
    "generationConfig": {"temperature": 1.0, "maxOutputTokens": 256},
}


def grounded_answer(seed: int = 1) -> SyntheticAnswer:
    answer = generate_answer(
        "best CRM for a 10-person startup?", CERTAIN_BRANDS, rng=random.Random(seed), grounding=True
    )
    assert answer.citations, "the seed must give an answer with citations"
    return answer


def test_grounded_body_parses_and_supports_use_utf8_byte_offsets() -> None:
    answer = grounded_answer()
    assert len(answer.text.encode()) > len(answer.text), "needs non-ASCII text to mean anything"
    body = gemini_wire.success_body(
        REQUEST, {"model": "gemini-2.5-flash"}, answer, model="gemini-2.5-flash", searched=True
    )
    response = types.GenerateContentResponse.model_validate(body)

    assert response.model_version == "gemini-2.5-flash"
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.STOP
    assert candidate.content.parts[0].text == answer.text
    metadata = candidate.grounding_metadata
    assert metadata.web_search_queries == list(answer.search_queries)
    chunk_urls = [chunk.web.uri for chunk in metadata.grounding_chunks]
    assert len(chunk_urls) == len(set(chunk_urls))
    assert set(chunk_urls) == {c.url for c in answer.citations} | {s.url for s in answer.sources}

    encoded = answer.text.encode()
    cited_spans = set()
    for support in metadata.grounding_supports:
        segment = support.segment
        start = segment.start_index or 0
        assert encoded[start : segment.end_index].decode() == segment.text
        for index in support.grounding_chunk_indices:
            cited_spans.add((chunk_urls[index], segment.text))
    expected = {(c.url, answer.text[c.start_index : c.end_index]) for c in answer.citations}
    assert cited_spans == expected
    assert response.usage_metadata.prompt_token_count == answer.input_tokens
    assert response.usage_metadata.candidates_token_count == answer.output_tokens


def test_a_support_at_the_start_leaves_start_index_out_like_proto3_json() -> None:
    answer = SyntheticAnswer(
        text="Ça va — HubSpot.",
        citations=(Citation(url="https://a.example/", start_index=0, end_index=4),),
        sources=(),
        search_queries=("q",),
        input_tokens=1,
        output_tokens=1,
    )
    body = gemini_wire.success_body(REQUEST, {}, answer, model="m", searched=True)
    segment = body["candidates"][0]["groundingMetadata"]["groundingSupports"][0]["segment"]
    assert "startIndex" not in segment
    assert segment["endIndex"] == len("Ça v".encode())
    assert segment["text"] == "Ça v"


def test_unsearched_body_has_no_grounding_metadata() -> None:
    answer = generate_answer("hi", DEFAULT_BRANDS, rng=random.Random(2))
    response = types.GenerateContentResponse.model_validate(
        gemini_wire.success_body(REQUEST, {}, answer, model="m", searched=False)
    )
    assert response.candidates[0].grounding_metadata is None
    assert response.candidates[0].content.parts[0].text == answer.text


def test_routes_match_the_path_google_genai_posts_to() -> None:
    for route in gemini_wire.ROUTES:
        regex, _, _ = compile_path(route)
        version = route.split("/")[1]
        match = regex.match(f"/{version}/models/gemini-2.5-flash:generateContent")
        assert match is not None
        assert match.group("model") == "gemini-2.5-flash"


def test_request_readers() -> None:
    assert gemini_wire.prompt_from(REQUEST) == "best CRM for a 10-person startup?"
    assert gemini_wire.prompt_from({}) == ""
    assert gemini_wire.grounding_from(REQUEST) is True
    assert gemini_wire.grounding_from({"tools": [{"googleSearchRetrieval": {}}]}) is True
    assert gemini_wire.grounding_from({"tools": [{"functionDeclarations": []}]}) is False
    assert gemini_wire.grounding_from({}) is False
    assert gemini_wire.model_from({}, {"model": "gemini-2.5-pro"}) == "gemini-2.5-pro"


def test_rate_limit_and_quota_differ_only_in_the_quota_failure_detail() -> None:
    limited = gemini_wire.error_body(429, "slow down", kind="rate_limit")
    spent = gemini_wire.error_body(429, "slow down", kind="quota")
    for body in (limited, spent):
        error = genai_errors.APIError(429, body)
        assert error.status == "RESOURCE_EXHAUSTED"
        assert error.message == gemini_wire.QUOTA_MESSAGE
    quota_ids = [
        body["error"]["details"][0]["violations"][0]["quotaId"] for body in (limited, spent)
    ]
    assert quota_ids == [gemini_wire.MINUTE_QUOTA_ID, gemini_wire.DAILY_QUOTA_ID]
    assert "PerDay" in quota_ids[1]
    assert "PerDay" not in quota_ids[0]


def test_other_errors_use_google_status_names() -> None:
    expected = {
        "server": "INTERNAL",
        "overloaded": "UNAVAILABLE",
        "auth": "UNAUTHENTICATED",
        "permission": "PERMISSION_DENIED",
        "invalid_request": "INVALID_ARGUMENT",
    }
    for kind, status in expected.items():
        body = gemini_wire.error_body(500, "boom", kind=kind)
        assert body["error"]["status"] == status
        assert body["error"]["message"] == "boom"
        assert body["error"]["code"] == 500
