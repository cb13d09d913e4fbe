"""Perplexity adapter (Sonar models) on the official ``perplexityai`` SDK.

Perplexity searches on every request. Its answer carries ``[n]`` markers indexing
(1-based) into ``search_results`` (or the older bare ``citations`` URL list): results a
marker points at are citations, the others were retrieved but not cited.

The reasoning models (``sonar-reasoning``, ``sonar-reasoning-pro``, ``sonar-deep-research``)
write their thinking first, in a ``<think>…</think>`` block inside the message content. That
block is not the answer: it is kept as :attr:`Completion.reasoning` and everything else
(brands, ``[n]`` markers, offsets) is read from the answer after it only. A content that
opens a ``<think>`` block and never closes it was cut off while thinking: its answer is
empty (truncated when ``finish_reason`` is ``length``).

``usage.cost.total_cost`` is the vendor's own price of the call, request fee included, and
is stored as the reported cost. A plain chat completion carries the *number* of searches
(``usage.num_search_queries``) but not the queries; they are read from
``message.reasoning_steps`` when a response carries them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import perplexity
from perplexity import AsyncPerplexity, DefaultAioHttpClient

from echo_ai.providers.base import (
    Citation,
    Completion,
    CompletionRequest,
    MalformedResponse,
    UserLocation,
    classify,
    require_search,
    sdk_client,
)
from echo_ai.providers.capabilities import PERPLEXITY_SEARCH_CONTEXT_SIZE as SEARCH_CONTEXT_SIZE
from echo_ai.providers.capabilities import capabilities_for
from echo_ai.providers.openai import (
    PARSE_ERRORS,
    call_sdk,
    chat_messages,
    json_schema_format,
)

_MARKER = re.compile(r"\[(\d{1,3})\]")
_THINK_OPEN: Final = "<think>"
_THINK_CLOSE: Final = "</think>"


@dataclass(frozen=True, slots=True)
class SplitContent:
    answer: str
    """What the user reads: the content after any leading think block."""
    reasoning: str | None
    """The think block's text (None when there was none)."""
    unterminated: bool = False
    """A think block was opened and never closed: the content ended while thinking."""


def split_think(content: str) -> SplitContent:
    """The answer and the reasoning of a message that may open with ``<think>…</think>``.

    Only a block at the start counts (after whitespace); the whitespace between the block
    and the answer is dropped, so offsets into the answer start at its first character.
    """
    stripped = content.lstrip()
    if not stripped.startswith(_THINK_OPEN):
        return SplitContent(answer=content, reasoning=None)
    body = stripped[len(_THINK_OPEN) :]
    end = body.find(_THINK_CLOSE)
    if end < 0:
        return SplitContent(answer="", reasoning=body.strip(), unterminated=True)
    return SplitContent(
        answer=body[end + len(_THINK_CLOSE) :].lstrip(), reasoning=body[:end].strip()
    )


def _location(location: UserLocation | None) -> dict[str, str] | None:
    if location is None:
        return None
    fields = {"country": location.country, "region": location.region, "city": location.city}
    present = {key: value for key, value in fields.items() if value}
    return present or None


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(getattr(chunk, "text", None) or "" for chunk in content)
    raise MalformedResponse("perplexity answer has no message content")


def _results(response: Any) -> list[Citation]:
    """Retrieved pages in the order the ``[n]`` markers count them."""
    if response.search_results:
        return [
            Citation(url=result.url, title=result.title or None)
            for result in response.search_results
        ]
    return [Citation(url=url) for url in response.citations or []]


def split_citations(
    text: str, results: list[Citation]
) -> tuple[tuple[Citation, ...], tuple[Citation, ...]]:
    """(cited, retrieved-only): a result is cited when a marker in ``text`` points at it.

    Each cited result appears once, in order of its first marker, with that marker's offsets.
    """
    first_marker: dict[int, tuple[int, int]] = {}
    for match in _MARKER.finditer(text):
        index = int(match.group(1)) - 1
        if 0 <= index < len(results):
            first_marker.setdefault(index, match.span())
    cited = tuple(
        Citation(url=results[i].url, title=results[i].title, start_index=start, end_index=end)
        for i, (start, end) in first_marker.items()
    )
    uncited = tuple(result for i, result in enumerate(results) if i not in first_marker)
    return cited, uncited


class PerplexityProvider:
    name = "perplexity"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout_seconds: float = 60.0
    ) -> None:
        self._client = sdk_client(
            AsyncPerplexity,
            DefaultAioHttpClient,
            api_key=api_key,
            base_url=base_url,
            timeout_seconds=timeout_seconds,
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        options: dict[str, Any] = {"search_context_size": SEARCH_CONTEXT_SIZE}
        location = _location(request.user_location)
        if location is not None:
            options["user_location"] = location
        sent: dict[str, Any] = {
            "max_tokens": request.max_output_tokens,
            "web_search_options": options,
        }
        # The reasoning models take no temperature (the capabilities table says which).
        temperature = capabilities_for(self.name, request.model).temperature_sent(
            request.temperature
        )
        if temperature is not None:
            sent["temperature"] = temperature
        if request.structured is not None:
            sent["response_format"] = json_schema_format(request.structured)
        raw, latency_ms = await call_sdk(
            lambda: self._client.chat.completions.create(
                model=request.model, messages=chat_messages(request), **sent
            ),
            sdk=perplexity,
            base_error=perplexity.PerplexityError,
        )
        completion = parse_completion(raw, latency_ms=latency_ms, sent=sent)
        require_search(request, completion, f"{self.name} answered without a web search")
        return completion

    async def aclose(self) -> None:
        await self._client.close()


def parse_completion(
    response: Any, *, latency_ms: float, sent: dict[str, Any] | None = None
) -> Completion:
    """A :class:`Completion` from a chat completion; ``sent`` are the parameters asked with."""
    try:
        choice = response.choices[0]
        split = split_think(_message_text(choice.message.content))
        results = _results(response)
        citations, sources = split_citations(split.answer, results)
        queries = _search_queries(choice.message)
        usage = response.usage
        searches = usage.num_search_queries if usage else None
        parameters = dict(sent or {})
        if usage is not None and usage.search_context_size:
            parameters["search_context_size"] = usage.search_context_size
        finish = choice.finish_reason
        return Completion(
            text=split.answer,
            model_version=response.model,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=_billed_output(usage),
            latency_ms=latency_ms,
            citations=citations,
            sources=sources,
            search_queries=queries,
            searched=bool(results) or bool(searches) or bool(queries),
            answer_class=classify(split.answer, truncated=finish == "length"),
            stop_reason=finish,
            reasoning=split.reasoning,
            reasoning_tokens=usage.reasoning_tokens if usage else None,
            citation_tokens=usage.citation_tokens if usage else None,
            web_searches=searches if searches is not None else len(queries),
            reported_cost_usd=_reported_cost(usage),
            parameters=parameters,
        )
    except PARSE_ERRORS as exc:
        raise MalformedResponse("unreadable perplexity answer") from exc


def _search_queries(message: Any) -> tuple[str, ...]:
    """The queries of the message's web-search reasoning steps, in order, once each."""
    queries: dict[str, None] = {}
    for step in getattr(message, "reasoning_steps", None) or ():
        search = step.web_search
        for keyword in (search.search_keywords if search is not None else None) or ():
            if keyword and keyword.strip():
                queries.setdefault(keyword.strip(), None)
    return tuple(queries)


def _billed_output(usage: Any) -> int | None:
    """Output tokens as billed, reasoning included (as every other vendor counts them):
    Perplexity reports its reasoning tokens beside ``completion_tokens``, not in them (its
    ``total_tokens`` is prompt plus completion, and its cost breakdown prices the reasoning
    tokens apart)."""
    if usage is None or usage.completion_tokens is None:
        return None
    return int(usage.completion_tokens) + int(usage.reasoning_tokens or 0)


def _reported_cost(usage: Any) -> Decimal | None:
    """``usage.cost.total_cost``: the whole price, request and search fees included."""
    cost = getattr(usage, "cost", None) if usage is not None else None
    total = getattr(cost, "total_cost", None) if cost is not None else None
    # Through str: the JSON number as written (0.00501), not its binary float expansion.
    return Decimal(str(total)) if isinstance(total, int | float) else None
