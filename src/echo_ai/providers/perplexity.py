"""Perplexity adapter (Sonar models) on the official ``perplexityai`` SDK.

Perplexity searches on every request. Its answer carries ``[n]`` markers indexing
(1-based) into ``search_results`` (or the older bare ``citations`` URL list): results a
marker points at are citations, the others were retrieved but not cited.
"""

from __future__ import annotations

import re
from typing import Any

import perplexity
from perplexity import AsyncPerplexity, DefaultAioHttpClient

from echo_ai.providers.base import (
    Citation,
    Completion,
    CompletionRequest,
    MalformedResponse,
    UserLocation,
    require_search,
    sdk_client,
)
from echo_ai.providers.openai import (
    PARSE_ERRORS,
    call_sdk,
    chat_messages,
)

_MARKER = re.compile(r"\[(\d{1,3})\]")


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
        options: dict[str, Any] = {}
        location = _location(request.user_location)
        if location is not None:
            options["user_location"] = location
        raw, latency_ms = await call_sdk(
            lambda: self._client.chat.completions.create(
                model=request.model,
                messages=chat_messages(request),
                temperature=request.temperature,
                max_tokens=request.max_output_tokens,
                web_search_options=options,
            ),
            sdk=perplexity,
            base_error=perplexity.PerplexityError,
        )
        completion = self._completion(raw, latency_ms)
        require_search(request, completion, f"{self.name} answered without a web search")
        return completion

    def _completion(self, response: Any, latency_ms: float) -> Completion:
        try:
            text = _message_text(response.choices[0].message.content)
            results = _results(response)
            citations, sources = split_citations(text, results)
            usage = response.usage
            return Completion(
                text=text,
                model_version=response.model,
                input_tokens=usage.prompt_tokens if usage else None,
                output_tokens=usage.completion_tokens if usage else None,
                latency_ms=latency_ms,
                citations=citations,
                sources=sources,
                searched=bool(results) or bool(usage and usage.num_search_queries),
            )
        except PARSE_ERRORS as exc:
            raise MalformedResponse("unreadable perplexity answer") from exc

    async def aclose(self) -> None:
        await self._client.close()
