"""A workspace's scrubbing (``scrub_personal_data``) applied to what a vendor sent back,
before extraction and storage: the answer, its reasoning, the citations' and sources'
titles, quoted text and addresses (:func:`echo_ai.security.scrub.scrub_url` keeps their
sites), and the search queries the model ran; and, for a failed call, the error text and
any answer that came back with it."""

from __future__ import annotations

import dataclasses
from typing import Any

from echo_ai.providers.base import Citation, Completion
from echo_ai.security.scrub import scrub, scrub_optional, scrub_url


def _page(citation: Citation) -> Citation:
    return dataclasses.replace(
        citation,
        url=scrub_url(citation.url),
        resolved_url=None if citation.resolved_url is None else scrub_url(citation.resolved_url),
        title=scrub_optional(citation.title),
        cited_text=scrub_optional(citation.cited_text),
    )


def scrubbed(completion: Completion) -> Completion:
    """``completion`` with e-mail addresses and phone numbers taken out of every text."""
    return dataclasses.replace(
        completion,
        text=scrub(completion.text),
        reasoning=scrub_optional(completion.reasoning),
        citations=tuple(map(_page, completion.citations)),
        sources=tuple(map(_page, completion.sources)),
        search_queries=tuple(map(scrub, completion.search_queries)),
    )


def scrub_failure(row: dict[str, Any]) -> dict[str, Any]:
    """A failed iteration's row with its error text and answer (if any came back) scrubbed."""
    for key in ("error_message", "answer"):
        if isinstance(row.get(key), str):
            row[key] = scrub(row[key])
    return row
