"""OpenAI's wire format: Chat Completions and the Responses API (with its web-search tool).

One module serves both endpoints and tells them apart by the request body: Responses
requests carry ``input``, chat requests carry ``messages``. Shapes follow the published API
reference closely enough for the official ``openai`` SDK to parse them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import SyntheticAnswer, insert_markers

ROUTES: list[str] = ["/v1/chat/completions", "/v1/responses"]

_SEARCH_TOOLS: Final = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26"})
_ERROR_TYPES: Final[dict[str, tuple[str, str | None]]] = {
    "rate_limit": ("requests", "rate_limit_exceeded"),
    "quota": ("insufficient_quota", "insufficient_quota"),
    "server": ("server_error", None),
    "overloaded": ("server_error", "overloaded"),
    "auth": ("invalid_request_error", "invalid_api_key"),
    "permission": ("invalid_request_error", "model_not_permitted"),
    "invalid_request": ("invalid_request_error", None),
}


def model_from(body: dict[str, Any], path_params: dict[str, str]) -> str:
    return str(body.get("model") or "gpt-4o-mini")


def prompt_from(body: dict[str, Any]) -> str:
    if "input" in body:
        return _text_of(body["input"])
    messages = body.get("messages") or []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return _text_of(users[-1].get("content")) if users else ""


def grounding_from(body: dict[str, Any]) -> bool:
    if "input" in body:
        tools = body.get("tools") or []
        return any(isinstance(t, dict) and t.get("type") in _SEARCH_TOOLS for t in tools)
    # Chat Completions only searches with the *-search-preview models and web_search_options.
    return "web_search_options" in body


def schema_from(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema of a ``response_format`` ``json_schema`` (Chat Completions) or a
    ``text.format`` ``json_schema`` (Responses), if the request asks for one."""
    chat = body.get("response_format")
    if isinstance(chat, dict) and chat.get("type") == "json_schema":
        found = (chat.get("json_schema") or {}).get("schema")
        return found if isinstance(found, dict) else None
    text = body.get("text")
    shape = text.get("format") if isinstance(text, dict) else None
    if isinstance(shape, dict) and shape.get("type") == "json_schema":
        found = shape.get("schema")
        return found if isinstance(found, dict) else None
    return None


def success_body(
    body: dict[str, Any],
    path_params: dict[str, str],
    answer: SyntheticAnswer,
    *,
    model: str,
    searched: bool,
) -> dict[str, Any]:
    if "input" in body:
        return _response_body(body, answer, model=model, searched=searched)
    return _chat_body(answer, model=model, searched=searched)


def error_body(status: int, message: str, *, kind: str) -> dict[str, Any]:
    error_type, code = _ERROR_TYPES.get(kind, ("invalid_request_error", None))
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _text_of(content: Any) -> str:
    """Text of a string, a content-part list, or a list of input messages."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts: list[str] = []
    for item in content:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            if isinstance(item.get("text"), str):
                texts.append(item["text"])
            elif item.get("role", "user") == "user" and "content" in item:
                texts.append(_text_of(item["content"]))
    return "\n".join(t for t in texts if t)


def _chat_body(answer: SyntheticAnswer, *, model: str, searched: bool) -> dict[str, Any]:
    """A chat completion; a search model's (``web_search_options`` sent) carries a markdown
    link per citation with its ``url_citation`` annotation, as the search-preview models do."""
    text, annotations = answer.text, []
    if searched:
        text, placed = insert_markers(answer.text, answer.citations, _link)
        annotations = [
            {
                "type": "url_citation",
                "url_citation": {
                    "end_index": end,
                    "start_index": start,
                    "title": citation.title or citation.url,
                    "url": f"{citation.url}?utm_source=openai",
                },
            }
            for citation, start, end in placed
        ]
    output_tokens = answer.output_tokens + (len(text) - len(answer.text)) // 4
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake0001",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": annotations,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": answer.input_tokens + output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


def _link(_: int, citation: Citation) -> str:
    host = citation.url.split("://", 1)[-1].split("/", 1)[0]
    return f" ([{host}]({citation.url}?utm_source=openai))"


def _response_body(
    body: dict[str, Any], answer: SyntheticAnswer, *, model: str, searched: bool
) -> dict[str, Any]:
    # Like the real service, the answer text carries a markdown link per citation and each
    # url_citation annotation spans that link.
    text, placed = insert_markers(answer.text, answer.citations, _link)
    annotations = [
        {
            "type": "url_citation",
            "start_index": start,
            "end_index": end,
            "url": f"{citation.url}?utm_source=openai",
            "title": citation.title or citation.url,
        }
        for citation, start, end in placed
    ]
    output: list[dict[str, Any]] = []
    if searched:
        sources = [{"type": "url", "url": c.url} for c in (*answer.citations, *answer.sources)]
        for query in answer.search_queries:
            action = {"type": "search", "query": query, "queries": [query], "sources": sources}
            output.append(
                {
                    "type": "web_search_call",
                    "id": f"ws_{uuid.uuid4().hex[:24]}",
                    "status": "completed",
                    "action": action,
                }
            )
    output.append(
        {
            "type": "message",
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}
            ],
        }
    )
    output_tokens = answer.output_tokens + (len(text) - len(answer.text)) // 4
    now = int(time.time())
    return {
        "id": f"resp_{uuid.uuid4().hex[:24]}",
        "object": "response",
        "created_at": now,
        "completed_at": now,
        "status": "completed",
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "temperature": body.get("temperature", 1.0),
        "top_p": 1.0,
        "max_output_tokens": body.get("max_output_tokens"),
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "metadata": {},
        "tool_usage": {
            "image_gen": {
                "input_tokens": 0,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                "output_tokens": 0,
                "total_tokens": 0,
            },
            "web_search": {"num_requests": len(answer.search_queries) if searched else 0},
        },
        "usage": {
            "input_tokens": answer.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.input_tokens + output_tokens,
        },
    }
