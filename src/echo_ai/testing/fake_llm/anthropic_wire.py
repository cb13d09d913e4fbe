"""Anthropic Messages API wire format for the fake LLM server.

A grounded answer is shaped like a real ``web_search_20250305`` turn: one ``server_tool_use``
block per query, each followed by its ``web_search_tool_result``, then the answer split into
``text`` blocks so that every cited span is a block of its own carrying
``web_search_result_location`` citations. That is the shape the adapter must reassemble into
one text with offsets, so the fake reproduces it faithfully rather than sending one block.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import uuid
from typing import Any, Final

from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import SyntheticAnswer
from echo_ai.testing.fake_llm.wire_common import request_tools, retrieved_pages, search_queries

ROUTES: list[str] = ["/v1/messages"]

QUOTA_MESSAGE: Final = (
    "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits."
)
"""How Anthropic words an out-of-credit account (sent as a 400 ``invalid_request_error``)."""

_ERROR_TYPES: Final[dict[str, str]] = {
    "rate_limit": "rate_limit_error",
    "quota": "invalid_request_error",
    "server": "api_error",
    "overloaded": "overloaded_error",
    "auth": "authentication_error",
    "permission": "permission_error",
    "invalid_request": "invalid_request_error",
}
_CITED_TEXT_LIMIT: Final = 150
"""Anthropic quotes at most about 150 characters of the source in ``cited_text``."""


def model_from(body: dict[str, Any], path_params: dict[str, str]) -> str:
    return str(body.get("model") or "claude-fake")


def prompt_from(body: dict[str, Any]) -> str:
    """Text of the last user message (a plain string or a list of content blocks)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def grounding_from(body: dict[str, Any]) -> bool:
    return any(str(tool.get("type", "")).startswith("web_search_") for tool in request_tools(body))


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool a ``tool_choice`` of type ``tool`` forces, if the request declares it."""
    choice = body.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") != "tool":
        return None
    return next((t for t in request_tools(body) if t.get("name") == choice.get("name")), None)


def schema_from(body: dict[str, Any]) -> dict[str, Any] | None:
    """The ``input_schema`` of the tool the request forces Claude to call, if any."""
    tool = _forced_tool(body)
    found = tool.get("input_schema") if tool else None
    return found if isinstance(found, dict) else None


def success_body(
    body: dict[str, Any],
    path_params: dict[str, str],
    answer: SyntheticAnswer,
    *,
    model: str,
    searched: bool,
) -> dict[str, Any]:
    """A text answer; to a request forcing a tool, a ``tool_use`` block whose input is
    the answer's text read as JSON (the structured output)."""
    content: list[dict[str, Any]] = []
    queries: list[str] = []
    forced = _forced_tool(body)
    if forced is not None:
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": forced["name"],
                "input": json.loads(answer.text),
            }
        )
    elif searched:
        queries = search_queries(answer, prompt_from(body))
        content.extend(_search_blocks(queries, retrieved_pages(answer)))
        content.extend(_text_blocks(answer.text, answer.citations))
    else:
        content.append({"type": "text", "text": answer.text, "citations": None})
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if forced is not None else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
            "server_tool_use": (
                {"web_search_requests": len(queries), "web_fetch_requests": 0} if searched else None
            ),
        },
    }


def error_body(status: int, message: str, *, kind: str) -> dict[str, Any]:
    """Anthropic's error envelope; an exhausted quota always carries Anthropic's own wording."""
    text = QUOTA_MESSAGE if kind == "quota" else message
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(kind, "api_error"), "message": text},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _search_blocks(queries: list[str], pages: list[Citation]) -> list[dict[str, Any]]:
    """A tool call and its results per query, the pages dealt out round-robin."""
    blocks: list[dict[str, Any]] = []
    for number, query in enumerate(queries):
        tool_use_id = f"srvtoolu_{uuid.uuid4().hex[:24]}"
        results = [
            {
                "type": "web_search_result",
                "url": page.url,
                "title": page.title or page.url,
                "encrypted_content": _opaque("content", page.url),
                "page_age": None,
            }
            for page in pages[number :: len(queries)]
        ]
        blocks.append(
            {
                "type": "server_tool_use",
                "id": tool_use_id,
                "name": "web_search",
                "input": {"query": query},
            }
        )
        blocks.append(
            {"type": "web_search_tool_result", "tool_use_id": tool_use_id, "content": results}
        )
    return blocks


def _text_blocks(text: str, citations: tuple[Citation, ...]) -> list[dict[str, Any]]:
    """Split ``text`` at citation boundaries; each piece lists the citations covering it.

    Citations without usable offsets are attached to the last piece, as Claude tends to cite
    at the end of its answer.
    """
    placed = [(span, c) for c in citations if (span := _span(c, len(text))) is not None]
    loose = [c for c in citations if _span(c, len(text)) is None]
    cuts = sorted({0, len(text)} | {i for (start, end), _ in placed for i in (start, end)})
    pieces = [(start, end) for start, end in itertools.pairwise(cuts) if end > start]
    if not pieces:
        pieces = [(0, len(text))]
    blocks: list[dict[str, Any]] = []
    for number, (start, end) in enumerate(pieces):
        covering = [c for (first, last), c in placed if first <= start and end <= last]
        if number == len(pieces) - 1:
            covering.extend(loose)
        blocks.append(
            {
                "type": "text",
                "text": text[start:end],
                "citations": [_location(c, text[start:end]) for c in covering] or None,
            }
        )
    return blocks


def _span(citation: Citation, length: int) -> tuple[int, int] | None:
    start, end = citation.start_index, citation.end_index
    if start is None or end is None or not 0 <= start < end <= length:
        return None
    return start, end


def _location(citation: Citation, span: str) -> dict[str, Any]:
    quoted = citation.cited_text or span
    return {
        "type": "web_search_result_location",
        "url": citation.url,
        "title": citation.title,
        "cited_text": quoted[:_CITED_TEXT_LIMIT],
        "encrypted_index": _opaque("index", citation.url),
    }


def _opaque(purpose: str, url: str) -> str:
    """A stable stand-in for Anthropic's encrypted blobs, which clients must pass back as-is."""
    digest = hashlib.sha256(f"{purpose}:{url}".encode(errors="surrogatepass")).digest()
    return base64.b64encode(digest).decode("ascii")
