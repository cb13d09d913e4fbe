"""Gemini API (``generateContent``) wire format for the fake LLM server.

A grounded answer carries ``groundingMetadata`` like Google Search grounding does: the
queries, one ``groundingChunks`` entry per page (cited or only retrieved), and
``groundingSupports`` whose segment offsets are **UTF-8 byte** offsets into the text part,
as the real API sends them. Answers contain curly quotes and dashes, so an adapter that
treats them as character offsets fails the tests.

Errors use Google's ``{"error": {"code", "message", "status", "details"}}`` envelope. A 429
``RESOURCE_EXHAUSTED`` is sent for both a per-minute rate limit and an exhausted daily quota,
told apart only by the ``QuotaFailure`` detail's ``quotaId`` (``...PerMinute...`` against
``...PerDay...``), exactly the signal the adapter has to read.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import SyntheticAnswer
from echo_ai.testing.fake_llm.wire_common import request_tools, retrieved_pages, search_queries

ROUTES: list[str] = [
    "/v1beta/models/{model}:generateContent",
    "/v1/models/{model}:generateContent",
]
"""google-genai posts to ``{base_url}/{api_version}/models/{model}:generateContent``."""

QUOTA_MESSAGE: Final = (
    "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
DAILY_QUOTA_ID: Final = "GenerateRequestsPerDayPerProjectPerModel"
MINUTE_QUOTA_ID: Final = "GenerateRequestsPerMinutePerProjectPerModel"

_STATUS_NAMES: Final[dict[str, str]] = {
    "rate_limit": "RESOURCE_EXHAUSTED",
    "quota": "RESOURCE_EXHAUSTED",
    "server": "INTERNAL",
    "overloaded": "UNAVAILABLE",
    "auth": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "invalid_request": "INVALID_ARGUMENT",
}
_QUOTA_METRIC: Final = "generativelanguage.googleapis.com/generate_content_requests"
_SEARCH_TOOL_KEYS: Final = ("googleSearch", "google_search", "googleSearchRetrieval")


def model_from(body: dict[str, Any], path_params: dict[str, str]) -> str:
    return path_params.get("model") or "gemini-fake"


def prompt_from(body: dict[str, Any]) -> str:
    """Text of the last ``user`` turn in ``contents``."""
    contents = body.get("contents")
    if not isinstance(contents, list):
        return ""
    for turn in reversed(contents):
        if isinstance(turn, dict) and turn.get("role", "user") == "user":
            parts = turn.get("parts")
            if isinstance(parts, list):
                return "".join(
                    str(part.get("text", "")) for part in parts if isinstance(part, dict)
                )
    return ""


def grounding_from(body: dict[str, Any]) -> bool:
    return any(any(key in tool for key in _SEARCH_TOOL_KEYS) for tool in request_tools(body))


def schema_from(body: dict[str, Any]) -> dict[str, Any] | None:
    """``generationConfig.responseJsonSchema`` (or ``responseSchema``), if the request
    asks for JSON."""
    config = body.get("generationConfig")
    if not isinstance(config, dict):
        return None
    found = config.get("responseJsonSchema") or config.get("responseSchema")
    return found if isinstance(found, dict) else None


def success_body(
    body: dict[str, Any],
    path_params: dict[str, str],
    answer: SyntheticAnswer,
    *,
    model: str,
    searched: bool,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": answer.text}], "role": "model"},
        "finishReason": "STOP",
        "index": 0,
    }
    if searched:
        queries = search_queries(answer, prompt_from(body))
        candidate["groundingMetadata"] = _grounding(answer, queries)
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": answer.input_tokens,
            "candidatesTokenCount": answer.output_tokens,
            "totalTokenCount": answer.input_tokens + answer.output_tokens,
        },
        "modelVersion": model,
        "responseId": uuid.uuid4().hex[:22],
    }


def error_body(status: int, message: str, *, kind: str) -> dict[str, Any]:
    """Google's error envelope, with the ``QuotaFailure`` detail that tells 429s apart."""
    details: list[dict[str, Any]] = []
    text = message
    if kind in ("rate_limit", "quota"):
        quota_id = DAILY_QUOTA_ID if kind == "quota" else MINUTE_QUOTA_ID
        text = QUOTA_MESSAGE
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": _QUOTA_METRIC,
                        "quotaId": quota_id,
                    }
                ],
            }
        )
    return {
        "error": {
            "code": status,
            "message": text,
            "status": _STATUS_NAMES.get(kind, "INTERNAL"),
            "details": details,
        }
    }


def _grounding(answer: SyntheticAnswer, queries: list[str]) -> dict[str, Any]:
    pages = retrieved_pages(answer)
    index_of = {page.url: index for index, page in enumerate(pages)}
    return {
        "webSearchQueries": queries,
        "searchEntryPoint": {"renderedContent": "<div class='fake-search-chips'></div>"},
        "groundingChunks": [{"web": {"uri": p.url, "title": p.title or p.url}} for p in pages],
        "groundingSupports": _supports(answer.text, answer.citations, index_of),
    }


def _supports(
    text: str, citations: tuple[Citation, ...], index_of: dict[str, int]
) -> list[dict[str, Any]]:
    """One support per cited span, in text order; a citation without offsets supports all."""
    spans: dict[tuple[int, int], list[int]] = {}
    for citation in citations:
        start, end = citation.start_index, citation.end_index
        if start is None or end is None or not 0 <= start < end <= len(text):
            start, end = 0, len(text)
        chunks = spans.setdefault((start, end), [])
        if index_of[citation.url] not in chunks:
            chunks.append(index_of[citation.url])
    return [
        {"segment": _segment(text, start, end), "groundingChunkIndices": chunks}
        for (start, end), chunks in sorted(spans.items())
    ]


def _segment(text: str, start: int, end: int) -> dict[str, Any]:
    """Like the real API (proto3 JSON), a zero ``startIndex`` is left out, not sent as 0."""
    segment: dict[str, Any] = {"endIndex": len(text[:end].encode()), "text": text[start:end]}
    if start > 0:
        segment["startIndex"] = len(text[:start].encode())
    return segment
