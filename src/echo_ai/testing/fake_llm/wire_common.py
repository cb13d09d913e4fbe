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
