"""Claude through the official ``anthropic`` SDK, grounded with the web search server tool.

A grounded Claude answer arrives as many content blocks: ``server_tool_use`` (the query),
``web_search_tool_result`` (the pages), then the answer cut into ``text`` blocks, where each
cited span is its own block carrying ``web_search_result_location`` citations. We glue the
text back together and turn every cited block into a :class:`Citation` whose offsets slice
that span out of the full answer; pages retrieved but never cited become ``sources``.

There is no ``temperature``: API version 2026-10-21, which SDK 2.x sends, rejects every
sampling parameter (even 1.0) and always samples at its default, which is the temperature-1.0
distribution the product measures. A request's ``temperature`` is therefore not sent, and
the answer records the temperature used (1.0) beside the ``None`` sent
(:attr:`Completion.parameters`, from the model-capabilities table).

An answer is classed by the turn's last ``stop_reason``: ``max_tokens`` (and
``model_context_window_exceeded``) is truncated, ``refusal`` refused, and a turn still
paused (``pause_turn``) after :data:`MAX_CONTINUATIONS` is truncated too, since its answer
is unfinished. docs/providers.md says what is sent and read.

The SDK's own retries are off (``max_retries=0``): the runner's retry policy is the only one,
so a 429 is never retried twice over. Anthropic reports an empty credit balance as a *400*
``invalid_request_error`` (and spend limits as 429s with a spend-limit ``error_code``), which
a status-only mapping would call a bad request or a rate limit; :func:`status_error` reads
the body so both become :class:`QuotaExhausted`, which is never retried.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import anthropic
from anthropic.types import (
    Message,
    MessageParam,
    ToolUnionParam,
    UserLocationParam,
    WebSearchTool20250305Param,
)

from echo_ai.providers import errors
from echo_ai.providers.base import (
    Citation,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    MalformedResponse,
    ProviderError,
    QuotaExhausted,
    UserLocation,
    classify,
    require_search,
    sdk_client,
    stopwatch,
)
from echo_ai.providers.capabilities import capabilities_for

WEB_SEARCH_MAX_USES: Final = 5
"""Searches Claude may run per answer: enough to compare products, bounded in cost."""
MAX_CONTINUATIONS: Final = 3
"""How many times a turn the API paused (``stop_reason: pause_turn``) is sent back to finish.

A long search turn can pause mid-answer; keeping the partial answer would under-count the
brands it was about to name, so we continue it, within a bound on cost and latency."""
_TRUNCATING_STOPS: Final = frozenset({"max_tokens", "model_context_window_exceeded", "pause_turn"})
"""Stop reasons that leave the answer unfinished (``pause_turn``: once we stopped continuing)."""
_TURN_SEPARATOR: Final = "\n\n"
"""Put between text written before a search and text written after it, as chat UIs do."""


class AnthropicProvider:
    """Claude models via the Messages API."""

    name = "anthropic"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout_seconds: float = 60.0
    ) -> None:
        self._client = sdk_client(
            anthropic.AsyncAnthropic,
            anthropic.DefaultAioHttpClient,
            api_key=api_key,
            base_url=base_url,
            timeout_seconds=timeout_seconds,
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        with stopwatch() as elapsed:
            turn = [await self._create(request, [])]
            while turn[-1].stop_reason == "pause_turn" and len(turn) <= MAX_CONTINUATIONS:
                turn.append(await self._create(request, turn))
        version = self._client.default_headers.get("anthropic-version")
        parameters = sent_parameters(request, version if isinstance(version, str) else None)
        completion = parse_turn(
            turn,
            latency_ms=elapsed[0],
            parameters=parameters,
            structured_tool=request.structured.name if request.structured else None,
        )
        require_search(
            request, completion, f"{request.model} answered without running a web search"
        )
        return completion

    async def aclose(self) -> None:
        await self._client.close()

    async def _create(self, request: CompletionRequest, so_far: list[Message]) -> Message:
        """One Messages call; after a ``pause_turn``, the turn so far goes back to continue it."""
        messages: list[MessageParam] = [{"role": "user", "content": request.prompt}]
        if so_far:
            blocks = [block for message in so_far for block in message.content]
            messages.append({"role": "assistant", "content": blocks})
        try:
            return await self._client.messages.create(
                model=request.model,
                max_tokens=request.max_output_tokens,
                messages=messages,
                system=request.system_prompt if request.system_prompt else anthropic.omit,
                tools=_tools(request) or anthropic.omit,
                tool_choice={"type": "tool", "name": request.structured.name}
                if request.structured is not None
                else anthropic.omit,
            )
        except anthropic.APIStatusError as exc:
            raise status_error(exc.status_code, exc.body, exc.response.headers) from exc
        except anthropic.APITimeoutError as exc:
            raise errors.timeout_error(exc, "no answer from Anthropic in time") from exc
        except anthropic.APIConnectionError as exc:
            raise ConnectionFailed("could not reach Anthropic") from exc
        except anthropic.APIResponseValidationError as exc:
            raise MalformedResponse(exc.message, status_code=exc.status_code) from exc
        except json.JSONDecodeError as exc:
            raise MalformedResponse("Anthropic sent a body that is not JSON") from exc


def _tools(request: CompletionRequest) -> list[ToolUnionParam]:
    """The web-search tool when grounding is asked for; the tool whose ``input_schema`` is
    the structured output asked for (its use forced by ``tool_choice``): Claude answers by
    calling it, and its input is the answer."""
    tools: list[ToolUnionParam] = []
    if request.grounding:
        tools.append(web_search_tool(request.user_location))
    if request.structured is not None:
        tools.append(
            {
                "name": request.structured.name,
                "description": request.structured.description,
                "input_schema": dict(request.structured.schema),
            }
        )
    return tools


def sent_parameters(request: CompletionRequest, api_version: str | None) -> dict[str, Any]:
    """What each call of the turn sends, for :attr:`Completion.parameters`, with the
    ``anthropic-version`` the SDK sends (it decides which parameters the API accepts)."""
    capabilities = capabilities_for("anthropic", request.model)
    parameters: dict[str, Any] = {
        "endpoint": "messages",
        "api_version": api_version,
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        "temperature": capabilities.temperature_sent(request.temperature),
        "temperature_used": capabilities.temperature_used(request.temperature),
    }
    if request.grounding:
        parameters["tools"] = [dict(web_search_tool(request.user_location))]
    if request.structured is not None:
        parameters["tool_choice"] = {"type": "tool", "name": request.structured.name}
    return parameters


def web_search_tool(location: UserLocation | None) -> WebSearchTool20250305Param:
    """The ``web_search_20250305`` server tool, localised when we know where the user is."""
    tool: WebSearchTool20250305Param = {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": WEB_SEARCH_MAX_USES,
    }
    if location is not None:
        where: UserLocationParam = {"type": "approximate"}
        if location.city:
            where["city"] = location.city
        if location.region:
            where["region"] = location.region
        if location.country:
            where["country"] = location.country
        if location.timezone:
            where["timezone"] = location.timezone
        tool["user_location"] = where
    return tool


def status_error(status: int, body: object, headers: Mapping[str, str]) -> ProviderError:
    """Our error for an Anthropic HTTP failure, reading the body to spot an exhausted account."""
    kind, message, code = _error_fields(body)
    message = message or f"Anthropic answered HTTP {status}"
    out_of_credit = (
        kind == "billing_error"
        or (code is not None and "spend_limit" in code)
        or (status == 400 and errors.is_quota_message(message))
    )
    if out_of_credit:
        return QuotaExhausted(message, status_code=status)
    return errors.from_status(status, message, headers)


def _error_fields(body: object) -> tuple[str | None, str | None, str | None]:
    """``error.type``, ``error.message`` and ``error.details.error_code`` when present."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    kind, message, details = error.get("type"), error.get("message"), error.get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    return (
        kind if isinstance(kind, str) else None,
        message if isinstance(message, str) else None,
        code if isinstance(code, str) else None,
    )


@dataclass
class _Reading:
    """What we gather walking the content blocks in order."""

    text: list[str] = field(default_factory=list)
    length: int = 0
    after_tool: bool = False
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[Citation] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    searched: bool = False

    def add_text(self, block: Any) -> None:
        text = block.text
        if not isinstance(text, str):
            raise MalformedResponse("Anthropic text block without text")
        if self.after_tool and self.length:
            self._append(_TURN_SEPARATOR)
        self.after_tool = False
        start = self.length
        self._append(text)
        for location in block.citations or ():
            if getattr(location, "type", None) != "web_search_result_location":
                continue
            self.citations.append(
                Citation(
                    url=_required_str(location, "url"),
                    title=_optional_str(location, "title"),
                    start_index=start,
                    end_index=self.length,
                    cited_text=_optional_str(location, "cited_text"),
                )
            )

    def add_search_call(self, block: Any) -> None:
        self.after_tool = True
        if getattr(block, "name", None) != "web_search":
            return
        query = block.input.get("query") if isinstance(block.input, dict) else None
        if isinstance(query, str) and query:
            self.queries.append(query)

    def add_search_results(self, block: Any) -> None:
        self.after_tool = True
        if not isinstance(block.content, list):
            return  # a search error object: this search found nothing
        self.searched = True
        for result in block.content:
            if getattr(result, "type", None) == "web_search_result":
                self.retrieved.append(
                    Citation(url=_required_str(result, "url"), title=_optional_str(result, "title"))
                )

    def _append(self, piece: str) -> None:
        self.text.append(piece)
        self.length += len(piece)


def parse_turn(
    messages: Sequence[Message],
    *,
    latency_ms: float,
    parameters: Mapping[str, Any] | None = None,
    structured_tool: str | None = None,
) -> Completion:
    """A :class:`Completion` from one assistant turn: one response, or several when paused.

    However the content is cut into blocks, the text is glued back in order; tokens and
    web searches add up over the responses; thinking blocks are reasoning, never text.
    ``structured_tool``: the tool a structured output was asked through; the input of its
    ``tool_use`` block, as JSON text, is then the answer's text (any other text dropped).
    """
    structured: list[str] = []
    reading = _Reading()
    input_tokens: list[int | None] = []
    output_tokens: list[int | None] = []
    search_requests = 0
    for message in messages:
        if not isinstance(message.content, list):
            raise MalformedResponse("Anthropic response has no content list")
        for block in message.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                reading.add_text(block)
            elif kind == "server_tool_use":
                reading.add_search_call(block)
            elif kind == "web_search_tool_result":
                reading.add_search_results(block)
            elif kind == "tool_use" and structured_tool is not None:
                if getattr(block, "name", None) == structured_tool:
                    structured.append(json.dumps(getattr(block, "input", None)))
            elif kind == "thinking":
                reading.after_tool = True  # the text after a thought is a new paragraph
                thought = getattr(block, "thinking", None)
                if isinstance(thought, str) and thought:
                    reading.thinking.append(thought)
            else:
                reading.after_tool = True  # another tool's block: a new paragraph follows
        usage = message.usage
        input_tokens.append(_count(getattr(usage, "input_tokens", None)))
        output_tokens.append(_count(getattr(usage, "output_tokens", None)))
        requests = _count(
            getattr(getattr(usage, "server_tool_use", None), "web_search_requests", None)
        )
        search_requests += requests or 0
    cited = {citation.url for citation in reading.citations}
    model = messages[-1].model
    stop_reason = messages[-1].stop_reason
    if structured_tool is not None:
        text = structured[-1] if structured else ""  # no call of the tool: no answer
    else:
        text = "".join(reading.text)
    return Completion(
        text=text,
        model_version=model if isinstance(model, str) else None,
        input_tokens=_sum(input_tokens),
        output_tokens=_sum(output_tokens),
        latency_ms=latency_ms,
        citations=tuple(reading.citations),
        sources=_unique(page for page in reading.retrieved if page.url not in cited),
        search_queries=tuple(reading.queries),
        searched=reading.searched or search_requests > 0,
        answer_class=classify(
            text, truncated=stop_reason in _TRUNCATING_STOPS, refused=stop_reason == "refusal"
        ),
        stop_reason=stop_reason if isinstance(stop_reason, str) else None,
        reasoning="\n\n".join(reading.thinking) or None,
        web_searches=search_requests,
        parameters=dict(parameters or {}),
    )


def _sum(counts: list[int | None]) -> int | None:
    """The total, unless some response did not say (then the total is unknown)."""
    if not counts or any(count is None for count in counts):
        return None
    return sum(count for count in counts if count is not None)


def _unique(pages: Iterable[Citation]) -> tuple[Citation, ...]:
    seen: set[str] = set()
    kept: list[Citation] = []
    for page in pages:
        if page.url not in seen:
            seen.add(page.url)
            kept.append(page)
    return tuple(kept)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _required_str(obj: object, name: str) -> str:
    value = getattr(obj, name, None)
    if not isinstance(value, str) or not value:
        raise MalformedResponse(f"Anthropic {getattr(obj, 'type', 'block')} without {name}")
    return value


def _optional_str(obj: object, name: str) -> str | None:
    value = getattr(obj, name, None)
    return value if isinstance(value, str) else None
