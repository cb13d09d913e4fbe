"""Perplexity's Sonar chat-completions wire format: ``[n]`` markers, citations, search results.

Perplexity always searches unless the request sets ``disable_search``. Its answer text
carries ``[1]``-style markers that index (1-based) into ``search_results``/``citations``;
results that no marker points at were retrieved but not cited. The official ``perplexityai``
SDK posts to ``/chat/completions`` at the API root (no ``/v1`` prefix).

The reasoning models (``sonar-reasoning*``, ``sonar-deep-research``) open their content with
a ``<think>…</think>`` block, as the real ones do; the fake's thinking names a brand the
answer may not name and carries a ``[n]`` marker, so an adapter that reads the block as the
answer miscounts.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import SyntheticAnswer, insert_markers

ROUTES: list[str] = ["/chat/completions"]

_ERROR_TYPES: Final[dict[str, str]] = {
    "rate_limit": "rate_limit_exceeded",
    "quota": "insufficient_quota",
    "server": "internal_server_error",
    "overloaded": "service_overloaded",
    "auth": "invalid_api_key",
    "permission": "permission_denied",
    "invalid_request": "invalid_request",
}
_RESULT_DATE: Final = "2025-06-01"
_PRICE_PER_TOKEN: Final = 1e-6  # sonar: $1 per million tokens each way
_REASONING_MODELS: Final = ("sonar-reasoning", "sonar-deep-research")
_THINKING_BRAND: Final = "Thinkwell CRM"


def model_from(body: dict[str, Any], path_params: dict[str, str]) -> str:
    return str(body.get("model") or "sonar")


def prompt_from(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return ""
    content = users[-1].get("content")
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def grounding_from(body: dict[str, Any]) -> bool:
    return not body.get("disable_search", False)


def schema_from(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema of a ``response_format`` ``json_schema``, if the request has one."""
    shape = body.get("response_format")
    if isinstance(shape, dict) and shape.get("type") == "json_schema":
        found = (shape.get("json_schema") or {}).get("schema")
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
    results = _result_order(answer) if searched else []
    position = {id(citation): i + 1 for i, citation in enumerate(results)}

    def marker(_: int, citation: Citation) -> str:
        return f"[{position[id(citation)]}]"

    text, _ = insert_markers(answer.text, answer.citations if searched else (), marker)
    output_tokens = answer.output_tokens
    reasoning_tokens: dict[str, int] = {}
    if model.startswith(_REASONING_MODELS):
        thinking = (
            f"The user asks: {prompt_from(body)!r}. I could mention {_THINKING_BRAND} "
            f"too [{len(results) or 1}], but the sources favour others."
        )
        text = f"<think>\n{thinking}\n</think>\n\n{text}"
        reasoning_tokens["reasoning_tokens"] = max(1, len(thinking) // 4)
        output_tokens += reasoning_tokens["reasoning_tokens"]
    return {
        "id": str(uuid.uuid4()),
        "model": model,
        "created": int(time.time()),
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
                "delta": {"role": "assistant", "content": ""},
            }
        ],
        "citations": [c.url for c in results],
        "search_results": [
            {
                "title": c.title or c.url,
                "url": c.url,
                "date": _RESULT_DATE,
                "last_updated": _RESULT_DATE,
                "snippet": (c.cited_text or c.title or "")[:200],
                "source": "web",
            }
            for c in results
        ],
        "usage": {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": answer.input_tokens + output_tokens,
            "search_context_size": "low",
            "num_search_queries": len(answer.search_queries),
            **reasoning_tokens,
            "cost": {
                "input_tokens_cost": round(answer.input_tokens * _PRICE_PER_TOKEN, 6),
                "output_tokens_cost": round(output_tokens * _PRICE_PER_TOKEN, 6),
                "request_cost": 0.005 if searched else 0.0,
                "total_cost": round(
                    (answer.input_tokens + output_tokens) * _PRICE_PER_TOKEN
                    + (0.005 if searched else 0.0),
                    6,
                ),
            },
        },
    }


def error_body(status: int, message: str, *, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": _ERROR_TYPES.get(kind, kind), "code": status}}


def _result_order(answer: SyntheticAnswer) -> list[Citation]:
    """One uncited source first, so marker numbers never simply equal citation order."""
    return [*answer.sources[:1], *answer.citations, *answer.sources[1:]]
