"""From a provider's answer to a stored iteration row, and from rows to metric inputs."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from echo_ai.analysis.citations import attributable_url, registrable_domain
from echo_ai.analysis.extraction import BrandMatcher, Extraction
from echo_ai.analysis.metrics import IterationFacts
from echo_ai.db import utcnow
from echo_ai.providers.base import Citation, Completion, GroundingMissing, ProviderError
from echo_ai.providers.pricing import total_cost
from echo_ai.providers.registry import MAX_MODEL_LENGTH
from echo_ai.text import storable

MAX_ERROR_MESSAGE = 2_000


def _citation_dicts(citations: tuple[Citation, ...]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(citation) for citation in citations]


def citations_from(rows: list[dict[str, Any]]) -> tuple[Citation, ...]:
    return tuple(Citation(**row) for row in rows)


MAX_STOP_REASON = 100
"""The longest stop reason stored: the length of ``iterations.stop_reason``."""


def success_row(
    *,
    batch_run_id: uuid.UUID,
    index: int,
    vendor: str,
    model: str,
    completion: Completion,
    attempts: int,
    matcher: BrandMatcher,
    earlier: tuple[Completion, ...] = (),
) -> dict[str, Any]:
    """A stored answer, of whatever class. ``earlier`` are answers to the same iteration
    that came back but were asked again (truncated, then asked with a larger limit): they
    were billed, so their tokens and cost are added to this one's."""
    extraction = matcher.extract(
        completion.text, citations=completion.citations, sources=completion.sources
    )
    billed = (*earlier, completion)
    cost = total_cost(vendor, model, billed)
    return _storable_row(
        {
            "id": uuid.uuid4(),
            "batch_run_id": batch_run_id,
            "index": index,
            "success": True,
            "answer": completion.text,
            "answer_class": completion.answer_class.value,
            "stop_reason": completion.stop_reason,
            "reasoning": completion.reasoning,
            "attempts": attempts,
            "latency_ms": completion.latency_ms,
            "input_tokens": _sum(answer.input_tokens for answer in billed),
            "output_tokens": _sum(answer.output_tokens for answer in billed),
            "reasoning_tokens": _sum(answer.reasoning_tokens for answer in billed),
            "cost_usd": cost.total_usd,
            "fee_usd": cost.fee_usd,
            "model_version": completion.model_version,
            "searched": completion.searched,
            "citations": _citation_dicts(completion.citations),
            "sources": _citation_dicts(completion.sources),
            "search_queries": list(completion.search_queries),
            "extraction": extraction.to_dict(),
            "created_at": utcnow(),
        }
    )


def failure_row(
    *,
    batch_run_id: uuid.UUID,
    index: int,
    vendor: str,
    model: str,
    error: ProviderError,
    attempts: int,
) -> dict[str, Any]:
    """A failed iteration. An answer that came back but was refused (no web search when
    one was required) keeps its text, tokens and cost: it was billed."""
    answered = error.completion if isinstance(error, GroundingMissing) else None
    return _storable_row(
        {
            "id": uuid.uuid4(),
            "batch_run_id": batch_run_id,
            "index": index,
            "success": False,
            "answer": answered.text if answered else None,
            "error_code": error.code,
            "error_message": error.message[:MAX_ERROR_MESSAGE],
            "attempts": attempts,
            "latency_ms": answered.latency_ms if answered else None,
            "input_tokens": answered.input_tokens if answered else None,
            "output_tokens": answered.output_tokens if answered else None,
            "cost_usd": total_cost(vendor, model, (answered,)).total_usd if answered else None,
            "fee_usd": total_cost(vendor, model, (answered,)).fee_usd if answered else None,
            "model_version": answered.model_version if answered else None,
            "citations": [],
            "sources": [],
            "search_queries": [],
            "created_at": utcnow(),
        }
    )


def _sum(values: Iterable[int | None]) -> int | None:
    """The sum, None if any is unknown."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _storable_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with everything a vendor sent (answer, error message, citations, search
    queries, model version; the extraction quotes the answer) made storable: NUL and lone
    surrogates, which PostgreSQL text and JSON cannot hold, become U+FFFD, one character
    for one so that offsets into the answer stay right; a model version or a stop reason
    longer than its column is cut (any OpenAI-compatible server may send any word).
    Nothing else is changed: an answer is kept as the vendor gave it."""
    cleaned: dict[str, Any] = storable(row)
    for key, length in (("model_version", MAX_MODEL_LENGTH), ("stop_reason", MAX_STOP_REASON)):
        value = cleaned.get(key)
        if isinstance(value, str):
            cleaned[key] = value[:length]
    return cleaned


def facts_from(
    *,
    success: bool,
    answer_class: str | None = None,
    extraction: Mapping[str, Any] | None,
    target: str,
    cost: Decimal | None,
    latency_ms: float | None,
    input_tokens: int | None,
    output_tokens: int | None,
    citations: list[dict[str, Any]] | None = None,
    sources: list[dict[str, Any]] | None = None,
    search_queries: list[str] | None = None,
    fee: Decimal | None = None,
) -> IterationFacts:
    parsed = Extraction.from_dict(extraction) if success and extraction else None
    cited = tuple(dict.fromkeys(map(attributable_url, citations_from(citations or []))))
    retrieved = tuple(
        url
        for url in dict.fromkeys(map(attributable_url, citations_from(sources or [])))
        if url not in cited
    )
    return IterationFacts(
        success=success,
        answer_class=answer_class or "complete",
        brands=parsed.brands_in_order if parsed else (),
        target_cited=bool(parsed and parsed.brand_citations.get(target)),
        cost_usd=cost,
        latency_ms=latency_ms,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cited_domains=parsed.cited_domains if parsed else (),
        cited_urls=cited if success else (),
        retrieved_urls=retrieved if success else (),
        retrieved_domains=tuple(
            dict.fromkeys(d for d in map(registrable_domain, retrieved) if d is not None)
        )
        if success
        else (),
        search_queries=tuple(search_queries or ()) if success else (),
        fee_usd=fee,
        candidates=parsed.candidates if parsed else None,
        sentiment=tuple(
            (brand, found.label, found.score, found.scorer or parsed.sentiment_method)
            for brand, found in parsed.sentiment.items()
        )
        if parsed and parsed.sentiment_method
        else None,
    )
