"""Gemini through the official ``google-genai`` SDK, grounded with Google Search.

Grounding comes back as ``groundingMetadata``: the queries, ``groundingChunks`` (pages) and
``groundingSupports`` tying answer segments to chunks. A chunk named by a support is a
citation, with that segment's offsets; the other chunks are sources. Segment offsets are
UTF-8 *byte* offsets into one part, so :func:`segment_span` converts them to character
offsets into the whole answer (and falls back to finding ``segment.text`` when they do not
line up). On the public API, chunk URIs are ``vertexaisearch.cloud.google.com`` redirects
and the title is usually the page's domain (sometimes a page title); Vertex AI also sends
``web.domain``. All three are kept exactly as sent; which site a citation is credited to is
decided in :func:`echo_ai.providers.sites.attributable_url`. When an operator turns on
redirect resolving (:mod:`echo_ai.providers.redirects`), exactly the redirects that
function would leave uncredited are resolved and the target is kept beside them
(``Citation.resolved_url``).

Every answer is classified (:class:`AnswerClass`): ``finishReason`` ``MAX_TOKENS`` is
truncated; a safety-type finish reason or a blocked prompt (``promptFeedback.blockReason``,
no candidates) is refused; no answer text (no parts, an empty part, only thought parts) is
empty. Thought parts (``thought: true``) are the model's reasoning, kept apart and never
the answer. ``thoughtsTokenCount`` is not part of ``candidatesTokenCount`` (the total is the
sum of prompt, candidates, tool-use prompt and thoughts counts) but is billed as output, so
the output tokens are the two added. A search happened when the response has grounding
metadata or counts tool-use prompt tokens (search results read by the model), even when no
metadata came back. Billable searches (``web_searches``): Gemini 2.x bills each grounded
prompt once; Gemini 3 bills each search query it ran (distinct non-empty
``webSearchQueries``; at least one when it searched).

One 429 ``RESOURCE_EXHAUSTED`` status with one message ("You exceeded your current quota...")
covers both a per-minute rate limit and a spent daily or zero quota, so the message cannot
tell them apart; :func:`status_error` reads the ``QuotaFailure`` detail instead: a violated
``...PerDay...`` quota, or a quota of ``limit: 0`` (model not in the plan), is
:class:`QuotaExhausted` (waiting minutes will not help); anything else is a retryable
:class:`RateLimited`, waiting as long as ``RetryInfo`` (or ``Retry-After``) says.

``user_location`` is not sent: Google Search grounding on the Gemini API takes no location.
SDK retries are off (one attempt) so the runner's retry policy is the only one.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Final

import aiohttp
import httpx
import httpx2
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from echo_ai.providers import errors
from echo_ai.providers.base import (
    AnswerClass,
    AuthenticationFailed,
    Citation,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    QuotaExhausted,
    RateLimited,
    classify,
    require_search,
    stopwatch,
)
from echo_ai.providers.capabilities import capabilities_for
from echo_ai.providers.redirects import RedirectResolver
from echo_ai.providers.sites import named_site
from echo_ai.text import storable

_QUOTA_FAILURE: Final = "type.googleapis.com/google.rpc.QuotaFailure"
_RETRY_INFO: Final = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO: Final = "type.googleapis.com/google.rpc.ErrorInfo"
_ZERO_LIMIT: Final = re.compile(r"\blimit:\s*0\b")
_RETRY_IN_MESSAGE: Final = re.compile(r"retry in\s+([0-9.]+)\s*s", re.IGNORECASE)
_DURATION: Final = re.compile(r"^\s*([0-9.]+)\s*s\s*$")


class GeminiProvider:
    """Gemini models via the Gemini API (``generateContent``)."""

    name = "gemini"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout_seconds: float = 60.0,
        redirects: RedirectResolver | None = None,
    ) -> None:
        """``redirects``: resolve grounding redirects whose site is otherwise unknown
        (None, the default: never)."""
        self._redirects = redirects
        options = types.HttpOptions(
            base_url=base_url,
            timeout=max(1, round(timeout_seconds * 1000)),  # the SDK takes milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def complete(self, request: CompletionRequest) -> Completion:
        temperature = capabilities_for(self.name, request.model).temperature_sent(
            request.temperature
        )
        config = types.GenerateContentConfig(
            temperature=temperature,
            max_output_tokens=request.max_output_tokens,
            system_instruction=request.system_prompt or None,
            tools=[types.Tool(google_search=types.GoogleSearch())] if request.grounding else None,
            response_mime_type="application/json" if request.structured else None,
            response_json_schema=dict(request.structured.schema) if request.structured else None,
        )
        sent: dict[str, Any] = {"max_output_tokens": request.max_output_tokens}
        if temperature is not None:
            sent["temperature"] = temperature
        if request.grounding:
            sent["tools"] = ["google_search"]
        if request.structured is not None:
            sent["response_mime_type"] = "application/json"
            sent["response_json_schema"] = request.structured.name
        with stopwatch() as elapsed:
            response = await self._generate(request.model, request.prompt, config)
        completion = parse_response(response, latency_ms=elapsed[0], model=request.model, sent=sent)
        if self._redirects is not None:
            completion = await resolve_redirects(completion, self._redirects)
        require_search(request, completion, f"{request.model} answered without a Google Search")
        return completion

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()  # the SDK builds a sync HTTP client too; it holds no sockets

    async def _generate(
        self, model: str, prompt: str, config: types.GenerateContentConfig
    ) -> types.GenerateContentResponse:
        try:
            return await self._client.aio.models.generate_content(
                model=model, contents=prompt, config=config
            )
        except genai_errors.APIError as exc:
            headers = getattr(exc.response, "headers", None)
            raise status_error(
                exc.code, exc.details, headers if isinstance(headers, Mapping) else {}
            ) from exc
        except (httpx.TimeoutException, httpx2.TimeoutException, TimeoutError) as exc:
            # google-genai uses aiohttp when it is installed, whose timeout is TimeoutError.
            raise ProviderTimeout("no answer from Gemini in time") from exc
        except (httpx.TransportError, httpx2.TransportError, aiohttp.ClientError) as exc:
            raise ConnectionFailed("could not reach Gemini") from exc
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:
            raise MalformedResponse("Gemini sent a body we cannot read") from exc


def status_error(status: int, body: object, headers: Mapping[str, str]) -> ProviderError:
    """Our error for a Gemini HTTP failure; see the module docstring for the 429 rule."""
    error = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(error, dict):
        error = {}
    message = error.get("message")
    message = message if isinstance(message, str) else f"Gemini answered HTTP {status}"
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    if status == 429 or error.get("status") == "RESOURCE_EXHAUSTED":
        if _quota_spent(details, message):
            return QuotaExhausted(message, status_code=status)
        retry_after = errors.parse_retry_after(headers)
        if retry_after is None:
            retry_after = _retry_delay(details, message)
        return RateLimited(message, status_code=status, retry_after=retry_after)
    if status == 400 and _invalid_api_key(details, message):
        # The Gemini API answers a bad key with 400 INVALID_ARGUMENT, not 401.
        return AuthenticationFailed(message, status_code=status)
    return errors.from_status(status, message, headers)


def _quota_spent(details: list[dict[str, Any]], message: str) -> bool:
    if _ZERO_LIMIT.search(message):
        return True
    for detail in details:
        if detail.get("@type") != _QUOTA_FAILURE:
            continue
        for violation in detail.get("violations") or ():
            if isinstance(violation, dict) and "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False


def _retry_delay(details: list[dict[str, Any]], message: str) -> float | None:
    """Seconds from ``RetryInfo.retryDelay`` (``"45.5s"``) or "Please retry in 45.5s."."""
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return _bounded_seconds(match.group(1))
    match = _RETRY_IN_MESSAGE.search(message)
    return _bounded_seconds(match.group(1)) if match else None


def _bounded_seconds(text: str) -> float | None:
    try:
        seconds = float(text)
    except ValueError:
        return None
    return min(max(seconds, 0.0), errors.MAX_RETRY_AFTER_SECONDS)


def _invalid_api_key(details: list[dict[str, Any]], message: str) -> bool:
    reasons = {d.get("reason") for d in details if d.get("@type") == _ERROR_INFO}
    return "API_KEY_INVALID" in reasons or "api key not valid" in message.lower()


_REFUSALS: Final = frozenset(
    {
        types.FinishReason.SAFETY,
        types.FinishReason.RECITATION,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.SPII,
        types.FinishReason.LANGUAGE,
        types.FinishReason.MODEL_ARMOR,
        types.FinishReason.IMAGE_SAFETY,
        types.FinishReason.IMAGE_PROHIBITED_CONTENT,
        types.FinishReason.IMAGE_RECITATION,
    }
)
"""Finish reasons that mean the model (or a filter on it) declined to answer."""


def parse_response(
    response: types.GenerateContentResponse,
    *,
    latency_ms: float,
    model: str = "",
    sent: Mapping[str, Any] | None = None,
) -> Completion:
    """A :class:`Completion` from the first candidate (we never ask for more than one).

    ``model`` is the model asked for (the response's ``modelVersion`` wins when present);
    ``sent`` the generation parameters sent, recorded with the answer.
    """
    usage = response.usage_metadata
    billed_model = response.model_version or model
    # What every answer has, whatever its class (a blocked prompt was billed too).
    common: dict[str, Any] = {
        "model_version": response.model_version,
        "latency_ms": latency_ms,
        "parameters": dict(sent or {}),
        "input_tokens": _total(usage.prompt_token_count, usage.tool_use_prompt_token_count)
        if usage
        else None,
        "output_tokens": _total(usage.candidates_token_count, usage.thoughts_token_count)
        if usage
        else None,
        "reasoning_tokens": usage.thoughts_token_count if usage else None,
    }
    if not response.candidates:
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            # The prompt itself was blocked: billed input, no answer.
            return Completion(
                text="",
                answer_class=AnswerClass.REFUSED,
                stop_reason=feedback.block_reason.value,
                **common,
            )
        raise MalformedResponse("Gemini response has no candidates")
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content is not None else None
    pieces = {
        index: part.text
        for index, part in enumerate(parts or ())
        if part.text is not None and not part.thought
    }
    thoughts = [part.text for part in parts or () if part.thought and part.text]
    reason = candidate.finish_reason
    if not pieces and not thoughts and reason is None:
        raise MalformedResponse("Gemini candidate has neither text nor a finish reason")
    text = "".join(pieces.values())
    citations, sources, queries = _grounding(candidate.grounding_metadata, pieces, text)
    searched = bool(queries or sources or citations) or bool(
        usage and usage.tool_use_prompt_token_count
    )
    return Completion(
        text=text,
        citations=citations,
        sources=sources,
        search_queries=queries,
        searched=searched,
        answer_class=classify(
            text,
            truncated=reason == types.FinishReason.MAX_TOKENS,
            refused=reason in _REFUSALS,
        ),
        stop_reason=reason.value if reason is not None else None,
        reasoning="\n\n".join(thoughts) or None,
        web_searches=billable_searches(billed_model, queries, searched=searched),
        **common,
    )


def billable_searches(model: str, queries: Iterable[str], *, searched: bool) -> int:
    """Searches Google bills for one answer: Gemini 3 per distinct non-empty query (at least
    one when it searched), earlier models once per grounded prompt."""
    if not searched:
        return 0
    if model.removeprefix("models/").startswith("gemini-3"):
        return max(1, len({query.strip() for query in queries if query.strip()}))
    return 1


async def resolve_redirects(completion: Completion, resolver: RedirectResolver) -> Completion:
    """``completion`` with the targets of its unattributed grounding redirects filled in.

    Exactly the citations that name no site (:func:`named_site`, the rule
    :func:`~echo_ai.providers.sites.attributable_url` credits by) are asked about, so a
    title that only looks like a domain ("Node.js") is resolved rather than credited to no
    one. The resolver itself asks only about links on the redirect hosts.
    """
    pages = (*completion.citations, *completion.sources)
    unknown = [page.url for page in pages if named_site(page) is None]
    if not unknown:
        return completion
    targets = await resolver.resolve_all(unknown)
    if not targets:
        return completion

    def resolved(items: tuple[Citation, ...]) -> tuple[Citation, ...]:
        return tuple(
            dataclasses.replace(item, resolved_url=targets[item.url])
            if item.url in targets
            else item
            for item in items
        )

    return dataclasses.replace(
        completion, citations=resolved(completion.citations), sources=resolved(completion.sources)
    )


def _total(*counts: int | None) -> int | None:
    """Billed tokens: search results count as input, thinking as output."""
    known = [count for count in counts if count is not None]
    return sum(known) if known else None


def _grounding(
    metadata: types.GroundingMetadata | None, pieces: dict[int, str], text: str
) -> tuple[tuple[Citation, ...], tuple[Citation, ...], tuple[str, ...]]:
    if metadata is None:
        return (), (), ()
    chunks = metadata.grounding_chunks or []
    starts = _part_starts(pieces)
    citations: list[Citation] = []
    cited_chunks: set[int] = set()
    for support in metadata.grounding_supports or ():
        span = segment_span(support.segment, pieces, starts, text) if support.segment else None
        for index in support.grounding_chunk_indices or ():
            page = _page(chunks, index)
            if page is None:
                continue
            cited_chunks.add(index)
            start, end = span if span is not None else (None, None)
            citations.append(dataclasses.replace(page, start_index=start, end_index=end))
    sources = [
        page
        for index in range(len(chunks))
        if index not in cited_chunks and (page := _page(chunks, index)) is not None
    ]
    cited_urls = {citation.url for citation in citations}
    queries = tuple(q for q in metadata.web_search_queries or () if q)
    return (
        _unique(citations, key=lambda c: (c.url, c.start_index, c.end_index)),
        _unique((s for s in sources if s.url not in cited_urls), key=lambda s: s.url),
        queries,
    )


def _page(chunks: list[types.GroundingChunk], index: int) -> Citation | None:
    if not 0 <= index < len(chunks):
        return None
    web = chunks[index].web
    if web is None or not web.uri:
        return None
    return Citation(url=web.uri, title=web.title, domain=web.domain or None)


def _part_starts(pieces: dict[int, str]) -> dict[int, int]:
    starts: dict[int, int] = {}
    offset = 0
    for index, piece in pieces.items():
        starts[index] = offset
        offset += len(piece)
    return starts


def segment_span(
    segment: types.Segment, pieces: dict[int, str], starts: dict[int, int], text: str
) -> tuple[int, int] | None:
    """Character offsets into ``text`` of a segment given in UTF-8 bytes within one part.

    ``pieces`` maps part index to that part's text and ``starts`` to where it begins in
    ``text``. When the converted span does not read as ``segment.text`` (offsets from another
    convention), the segment text is searched for instead; ``None`` if it cannot be placed.
    """
    part = segment.part_index or 0
    if part in pieces and segment.end_index is not None:
        # A lone surrogate (a "\ud800" escape in the JSON) cannot be encoded: count it as
        # U+FFFD, which is what it is stored as (echo_ai.text.storable).
        encoded = storable(pieces[part]).encode()
        first, last = segment.start_index or 0, segment.end_index
        if 0 <= first <= last <= len(encoded):
            start = starts[part] + len(encoded[:first].decode(errors="ignore"))
            end = starts[part] + len(encoded[:last].decode(errors="ignore"))
            if start < end and (segment.text is None or text[start:end] == segment.text):
                return start, end
    if segment.text:
        found = text.find(segment.text)
        if found >= 0:
            return found, found + len(segment.text)
    return None


def _unique(
    items: Iterable[Citation], *, key: Callable[[Citation], Hashable]
) -> tuple[Citation, ...]:
    seen: set[Hashable] = set()
    kept: list[Citation] = []
    for item in items:
        marker = key(item)
        if marker not in seen:
            seen.add(marker)
            kept.append(item)
    return tuple(kept)
