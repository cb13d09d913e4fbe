"""Pieces of request reading and answer shaping that several wire modules share.

Only what is the same across vendors lives here; each vendor's field names and envelopes
stay in its own ``*_wire`` module.
"""

from __future__ import annotations

from typing import Any

from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import SyntheticAnswer


def request_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool objects a request declares under ``tools`` (nothing if that is not a list)."""
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [tool for tool in tools if isinstance(tool, dict)]


def example_of(schema: Any) -> Any:
    """A value that follows a JSON Schema (objects, arrays, enums, strings, numbers,
    booleans): what the fake answers a structured-output request with. An array of
    objects one of whose properties is an enum has one item per enum value (a verdict on
    each brand asked about); an enum's value is its first."""
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_of(value) for name, value in properties.items()}
    if kind == "array":
        items = schema.get("items") or {}
        keys = [
            (name, value["enum"])
            for name, value in (items.get("properties") or {}).items()
            if isinstance(value, dict) and value.get("enum")
        ]
        if items.get("type") == "object" and keys:
            name, values = keys[0]
            return [{**example_of(items), name: value} for value in values]
        return [example_of(items)]
    if kind in ("number", "integer"):
        return 0.5 if kind == "number" else 1
    if kind == "boolean":
        return True
    return "text"


def search_queries(answer: SyntheticAnswer, prompt: str) -> list[str]:
    """The queries a grounded answer ran: the answer's own, else the prompt as one query."""
    return list(answer.search_queries) or [prompt or "search"]


def retrieved_pages(answer: SyntheticAnswer) -> list[Citation]:
    """Every page the search returned: cited ones and retrieved-only ones, once per URL."""
    seen: set[str] = set()
    pages: list[Citation] = []
    for page in (*answer.citations, *answer.sources):
        if page.url not in seen:
            seen.add(page.url)
            pages.append(page)
    return pages
