"""OpenAI adapter: Chat Completions for plain answers, the Responses API for web search.

Web search is only offered as a tool of the Responses API, so grounded requests go there and
the answer's ``url_citation`` annotations (inline) are kept apart from the search call's
``sources`` (retrieved). The SDK's own retries are off: :mod:`echo_ai.providers.retry` owns
retrying, so attempts never multiply.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import openai
from openai import AsyncOpenAI, DefaultAioHttpClient

from echo_ai.providers import errors
from echo_ai.providers.base import (
    Citation,
    Completion,
    CompletionRequest,
    ConnectionFailed,
    GroundingMissing,
    MalformedResponse,
    ProviderError,
    ServerError,
    UserLocation,
    stopwatch,
)

# Anything the SDK raises while reading a body that is not what the API reference promises.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    AttributeError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
)


def translate_openai_error(exc: openai.OpenAIError) -> ProviderError:
    """Our error for an ``openai`` SDK exception (shared with the OpenAI-compatible adapter)."""
    if isinstance(exc, openai.APIStatusError):
        message = status_message(exc.message, exc.body)
        return errors.from_status(exc.status_code, message, dict(exc.response.headers))
    if isinstance(exc, openai.APITimeoutError):
        return errors.timeout_error(exc, str(exc))
    if isinstance(exc, openai.APIConnectionError):
        return ConnectionFailed(str(exc))
    return MalformedResponse(str(exc))


def status_message(message: str, body: object) -> str:
    """The SDK's message plus the vendor's error type/code, which tell quota from rate limit."""
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return message
    labels = [str(error[key]) for key in ("type", "code") if error.get(key) is not None]
    extra = [label for label in dict.fromkeys(labels) if label not in message]
    return f"{message} [{', '.join(extra)}]" if extra else message


def chat_messages(request: CompletionRequest) -> list[dict[str, str]]:
    messages = []
    if request.system_prompt:
        messages.append({"role": "system", "content": request.system_prompt})
    messages.append({"role": "user", "content": request.prompt})
    return messages


def chat_completion(response: Any, latency_ms: float) -> Completion:
    """A :class:`Completion` from a Chat Completions response (any OpenAI-style server)."""
    try:
        message = response.choices[0].message
        text = message.content if message.content is not None else message.refusal
        if not isinstance(text, str):
            raise MalformedResponse("chat completion has no message content")
        citations = tuple(
            Citation(
                url=a.url_citation.url,
                title=a.url_citation.title,
                start_index=a.url_citation.start_index,
                end_index=a.url_citation.end_index,
            )
            for a in (getattr(message, "annotations", None) or [])
            if a.type == "url_citation"
        )
        usage = response.usage
        return Completion(
            text=text,
            model_version=response.model,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            latency_ms=latency_ms,
            citations=citations,
            searched=bool(citations),
        )
    except PARSE_ERRORS as exc:
        raise MalformedResponse(f"unreadable chat completion: {exc!r}") from exc


def _approximate_location(location: UserLocation | None) -> dict[str, str] | None:
    if location is None:
        return None
    fields = {
        "country": location.country,
        "region": location.region,
        "city": location.city,
        "timezone": location.timezone,
    }
    return {"type": "approximate", **{k: v for k, v in fields.items() if v}}


def _without_query(url: str) -> str:
    """Compare cited and retrieved URLs without the ``utm_source`` OpenAI appends."""
    parts = urlsplit(url)
    return f"{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _unique(urls: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(urls))


def responses_completion(response: Any, latency_ms: float) -> Completion:
    """A :class:`Completion` from a Responses API response, web-search calls included."""
    try:
        if response.error is not None:
            raise ServerError(f"response failed: {response.error.message}")
        texts: list[str] = []
        citations: list[Citation] = []
        queries: list[str] = []
        retrieved: list[str] = []
        searched = False
        offset = 0
        for item in response.output:
            if item.type == "web_search_call":
                searched = True
                action = item.action
                if getattr(action, "type", None) == "search":
                    queries.extend(action.queries or ([action.query] if action.query else []))
                    retrieved.extend(source.url for source in action.sources or [])
            elif item.type == "message":
                for part in item.content:
                    if part.type != "output_text":
                        continue
                    citations.extend(
                        Citation(
                            url=a.url,
                            title=a.title,
                            start_index=offset + a.start_index,
                            end_index=offset + a.end_index,
                        )
                        for a in part.annotations
                        if a.type == "url_citation"
                    )
                    texts.append(part.text)
                    offset += len(part.text)
        cited = {_without_query(c.url) for c in citations}
        sources = tuple(
            Citation(url=url) for url in _unique(retrieved) if _without_query(url) not in cited
        )
        usage = response.usage
        return Completion(
            text="".join(texts),
            model_version=response.model,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            latency_ms=latency_ms,
            citations=tuple(citations),
            sources=sources,
            search_queries=tuple(_unique(queries)),
            searched=searched,
        )
    except PARSE_ERRORS as exc:
        raise MalformedResponse(f"unreadable response: {exc!r}") from exc


def require_search(request: CompletionRequest, completion: Completion, vendor: str) -> None:
    """Fail closed when the caller demanded a grounded answer and none was searched."""
    if request.grounding and request.require_grounding and not completion.searched:
        raise GroundingMissing(f"{vendor} answered without running a web search")


class OpenAIProvider:
    name = "openai"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, timeout_seconds: float = 60.0
    ) -> None:
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_seconds,
            max_retries=0,
            http_client=DefaultAioHttpClient(timeout=timeout_seconds),
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            with stopwatch() as elapsed:
                if request.grounding:
                    raw: Any = await self._client.responses.create(**self._responses_args(request))
                else:
                    raw = await self._client.chat.completions.create(
                        model=request.model,
                        messages=chat_messages(request),  # type: ignore[arg-type]
                        temperature=request.temperature,
                        max_completion_tokens=request.max_output_tokens,
                    )
        except openai.OpenAIError as exc:
            raise translate_openai_error(exc) from exc
        except PARSE_ERRORS as exc:
            raise MalformedResponse(f"unreadable body: {exc!r}") from exc
        if request.grounding:
            completion = responses_completion(raw, elapsed[0])
        else:
            completion = chat_completion(raw, elapsed[0])
        require_search(request, completion, self.name)
        return completion

    def _responses_args(self, request: CompletionRequest) -> dict[str, Any]:
        tool: dict[str, Any] = {"type": "web_search"}
        location = _approximate_location(request.user_location)
        if location is not None:
            tool["user_location"] = location
        args: dict[str, Any] = {
            "model": request.model,
            "input": request.prompt,
            "temperature": request.temperature,
            "max_output_tokens": request.max_output_tokens,
            "tools": [tool],
            "include": ["web_search_call.action.sources"],
        }
        if request.system_prompt:
            args["instructions"] = request.system_prompt
        return args

    async def aclose(self) -> None:
        await self._client.close()
