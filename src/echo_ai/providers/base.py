"""The provider protocol: one request shape, one answer shape, one error family.

Every vendor adapter turns its SDK's response into a :class:`Completion` and its SDK's
exceptions into a :class:`ProviderError` subclass, so the runner never sees a vendor type.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar, runtime_checkable

from echo_ai.text import storable

_Client = TypeVar("_Client")


@dataclass(frozen=True, slots=True)
class UserLocation:
    """Approximate location a web search should answer for (where the vendor supports it)."""

    country: str | None = None  # ISO 3166-1 alpha-2, e.g. "US"
    region: str | None = None
    city: str | None = None
    timezone: str | None = None  # IANA, e.g. "America/New_York"


@dataclass(frozen=True, slots=True)
class StructuredOutput:
    """Ask for an answer that is one JSON object following ``schema`` (a JSON Schema of
    an object, every property required, no others), through the vendor's own structured
    output: OpenAI's and Perplexity's ``response_format`` ``json_schema``, Anthropic's
    forced tool use (the tool's ``input_schema``), Gemini's ``responseJsonSchema``. The
    :attr:`Completion.text` is then that JSON text; the caller still validates it."""

    name: str
    """Letters, digits, ``_`` and ``-`` (a tool's or a format's name)."""
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    prompt: str
    model: str
    temperature: float = 1.0
    max_output_tokens: int = 2048
    """Set per model family by :mod:`echo_ai.providers.capabilities` for real runs."""
    grounding: bool = False
    """Ask the vendor to search the web (its web-search tool / grounding) before answering."""
    require_grounding: bool = False
    """Fail closed (:class:`GroundingMissing`) when grounding was asked for but no search ran."""
    user_location: UserLocation | None = None
    system_prompt: str | None = None
    seed: int | None = None
    """Only the offline demo provider uses it, to make each iteration reproducible."""
    structured: StructuredOutput | None = None
    """Ask for a JSON answer of this shape (not for experiments' answers: a judge's)."""


@dataclass(frozen=True, slots=True)
class Citation:
    url: str
    title: str | None = None
    start_index: int | None = None
    """Offsets into :attr:`Completion.text` of the cited span, where the vendor gives them."""
    end_index: int | None = None
    cited_text: str | None = None
    domain: str | None = None
    """The site's domain as the vendor named it (Gemini's ``web.domain``), where sent."""
    resolved_url: str | None = None
    """Where ``url`` redirects to, when it is a vendor's redirect link we resolved
    (:mod:`echo_ai.providers.redirects`); ``url`` stays as the vendor sent it."""


class AnswerClass(enum.StrEnum):
    """What kind of answer came back. Only a complete answer is a sample of what the
    assistant says: the others are stored (they were billed) but counted apart, never in
    a rate's denominator (docs/metrics.md, "Answers that are not samples")."""

    COMPLETE = "complete"
    TRUNCATED = "truncated"
    """Cut off by the output limit (the vendor's own stop reason says so)."""
    REFUSED = "refused"
    """The assistant declined to answer (a refusal part, a safety stop)."""
    EMPTY = "empty"
    """No answer text at all, for no reason the vendor gave."""


NOT_SAMPLES: tuple[AnswerClass, ...] = (
    AnswerClass.TRUNCATED,
    AnswerClass.REFUSED,
    AnswerClass.EMPTY,
)
"""The classes of answers that came back but are not samples, in the order they are shown."""


def classify(text: str, *, truncated: bool = False, refused: bool = False) -> AnswerClass:
    """The class of an answer from what its vendor said: a refusal first, then a cut by
    the output limit (even with no text: the reasoning may have used the whole limit),
    then no visible text."""
    if refused:
        return AnswerClass.REFUSED
    if truncated:
        return AnswerClass.TRUNCATED
    if not text.strip():
        return AnswerClass.EMPTY
    return AnswerClass.COMPLETE


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    """The answer as the user would read it (any reasoning block taken out)."""
    model_version: str | None
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float
    citations: tuple[Citation, ...] = ()
    """Sources the answer shows (inline links, footnotes)."""
    sources: tuple[Citation, ...] = ()
    """Sources the model retrieved but did not cite in the answer."""
    search_queries: tuple[str, ...] = ()
    """The web-search queries the model ran, in order."""
    synthetic: bool = False
    """True for answers made up offline by the demo provider; shown as synthetic everywhere."""
    searched: bool = field(default=False)
    """Whether a web search actually happened for this answer."""
    answer_class: AnswerClass = AnswerClass.COMPLETE
    stop_reason: str | None = None
    """The vendor's own word for why the answer ended (``max_tokens``, ``MAX_TOKENS``,
    ``content_filter``...), as sent, for users to look up in the vendor's docs."""
    reasoning: str | None = None
    """Reasoning text the vendor sent apart from (or before) the answer: kept, never scored."""
    reasoning_tokens: int | None = None
    """Of ``output_tokens``, those spent reasoning (where the vendor reports them)."""
    citation_tokens: int | None = None
    """Tokens billed for reading cited sources (Perplexity reports them), else None."""
    web_searches: int = 0
    """Billable web searches (or grounded prompts) the vendor reports or we counted."""
    reported_cost_usd: Decimal | None = None
    """What the vendor says the call cost, fees included, when the response says it."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """The generation parameters actually sent (temperature, output limit, tools...):
    what the model's capabilities allowed, which may differ from what was asked."""


@runtime_checkable
class Provider(Protocol):
    """An AI assistant we can ask a question."""

    name: str
    """Vendor key as used in provider specs: ``openai``, ``anthropic``, ``demo``..."""

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...


class ProviderError(Exception):
    """A failed call. ``retryable`` says whether trying again can help.

    ``message`` is shown to users with the failed iteration (and a batch it stops): the
    vendor's own words, or a sentence of ours, never an exception's text. Adapters chain
    the SDK's exception (``raise ... from exc``); the runner logs it with the cause. A
    vendor's words may hold what no log line or database can carry (NUL, lone surrogates):
    the message is made storable here, once, for every reader.
    """

    retryable: bool = False
    code: str = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        message = storable(message)
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        self.attempts = 1
        """Calls made before giving up; set by the retry loop."""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RateLimited(ProviderError):
    retryable = True
    code = "rate_limited"


class ServerError(ProviderError):
    retryable = True
    code = "server_error"


class ProviderTimeout(ProviderError):
    retryable = True
    code = "timeout"


class MalformedResponse(ProviderError):
    """The vendor answered with a body we cannot read; often transient, so retried."""

    retryable = True
    code = "malformed_response"


class ConnectionFailed(ProviderError):
    retryable = True
    code = "connection_failed"


class QuotaExhausted(ProviderError):
    """The account is out of credit or over a hard quota: waiting will not help."""

    code = "quota_exhausted"


class AuthenticationFailed(ProviderError):
    code = "authentication_failed"


class PermissionDenied(ProviderError):
    code = "permission_denied"


class BadRequest(ProviderError):
    code = "bad_request"


class GroundingMissing(ProviderError):
    """Grounding was required but the vendor answered without searching.

    The answer was produced (and billed): it travels with the error so that its tokens
    and cost are still recorded.
    """

    code = "grounding_missing"

    def __init__(self, message: str, *, completion: Completion | None = None) -> None:
        super().__init__(message)
        self.completion = completion


def require_search(request: CompletionRequest, completion: Completion, message: str) -> None:
    """Fail closed when the caller demanded a grounded answer and no search ran.

    Only a complete answer can fail so: a refusal, a cut-off or an empty answer is counted
    as what it is whether or not it searched (and a cut-off one is asked again)."""
    if (
        request.grounding
        and request.require_grounding
        and not completion.searched
        and completion.answer_class is AnswerClass.COMPLETE
    ):
        raise GroundingMissing(message, completion=completion)


class ProviderNotConfigured(ProviderError):
    """No API key (or other required setting) for this provider."""

    code = "not_configured"


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Measure wall time in milliseconds: ``with stopwatch() as elapsed: ...; elapsed[0]``."""
    holder = [0.0]
    start = time.perf_counter()
    try:
        yield holder
    finally:
        holder[0] = (time.perf_counter() - start) * 1000.0


def sdk_client(
    client_type: Callable[..., _Client],
    http_client_type: Callable[..., Any],
    *,
    api_key: str,
    base_url: str | None,
    timeout_seconds: float,
    follow_redirects: bool = True,
) -> _Client:
    """A client of a Stainless-generated vendor SDK (``openai``, ``anthropic``, ``perplexity``).

    The SDK's own retries are off (:mod:`echo_ai.providers.retry` owns retrying, so attempts
    never multiply) and it talks over the SDK's aiohttp transport with the same timeout.
    ``follow_redirects=False`` keeps it at the host it was given (a redirect is an error).
    """
    return client_type(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout_seconds,
        max_retries=0,
        http_client=http_client_type(timeout=timeout_seconds, follow_redirects=follow_redirects),
    )
