"""What each model family takes and needs: the model-capabilities table.

Vendors' models differ in the parameters they accept (OpenAI's search-preview and
reasoning models reject ``temperature``; Anthropic's temperature stops at 1), in the
endpoint a web-searched answer needs, and in how many output tokens an answer needs: a
reasoning model spends most of its output on reasoning (a real web-searched answer of a
small reasoning model used 3,773 output tokens, 3,136 of them reasoning), so a limit that
suits a chat model cuts its answer off. Adapters send only what the table allows and
report what they sent (:attr:`echo_ai.providers.base.Completion.parameters`); the runner
asks for each family's output limit and asks once more, with the larger retry limit, when
an answer comes back truncated.

The table is documented in docs/providers.md (keep the two in step). An operator changes
a family's output limit with ``ECHO_AI_RUNNER__OUTPUT_TOKENS``
(``{"openai:gpt-5": 32000}``): see :func:`capabilities_for`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from echo_ai.providers.families import longest_prefix

PERPLEXITY_SEARCH_CONTEXT_SIZE: Final = "low"
"""Sent on every Perplexity request: its own default, and the cheapest request fee. Sent
explicitly so that the recorded parameters say which fee tier the call was billed at (here,
not in the adapter, so that estimating a cost does not load the vendor's SDK)."""
CHAT_OUTPUT_TOKENS: Final = 2_048
"""Room for a long recommendation list from a model that does not reason."""
CHAT_RETRY_OUTPUT_TOKENS: Final = 8_192


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    vendor: str
    family: str
    """The table's key that matched (``""``: the vendor's entry for models not listed)."""
    temperature: bool = True
    """Takes a ``temperature``; when False none is sent and the vendor's default applies."""
    max_temperature: float = 2.0
    """The highest temperature the vendor accepts; a higher one asked is sent as this."""
    output_tokens: int = CHAT_OUTPUT_TOKENS
    """The output limit sent (it includes reasoning tokens where the model reasons)."""
    retry_output_tokens: int | None = CHAT_RETRY_OUTPUT_TOKENS
    """A truncated answer is asked again, once, with this limit (None: never retried)."""
    reasoning: bool = False
    """Spends output tokens reasoning before it answers."""
    search_endpoint: str | None = None
    """The API a web-searched answer needs, where the vendor has more than one:
    ``"responses"`` (OpenAI's web-search tool) or ``"chat"`` (a search model of Chat
    Completions, which searches on every request)."""
    default_temperature: float | None = None
    """The temperature the vendor samples at when none is sent, where its docs say so."""

    def temperature_sent(self, asked: float) -> float | None:
        """The temperature to send for ``asked`` (None: send none)."""
        if not self.temperature:
            return None
        return min(max(asked, 0.0), self.max_temperature)

    def temperature_used(self, asked: float) -> float | None:
        """The temperature the answer is sampled at: the one sent, else the vendor's
        default (None when neither is known)."""
        sent = self.temperature_sent(asked)
        return self.default_temperature if sent is None else sent


def _reasoning(vendor: str, family: str, output: int, retry: int) -> ModelCapabilities:
    return ModelCapabilities(
        vendor,
        family,
        temperature=False,
        output_tokens=output,
        retry_output_tokens=retry,
        reasoning=True,
    )


_OPENAI_REASONING: Final = (
    *("gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5-pro"),
    *("o1", "o3", "o3-mini", "o3-pro", "o4-mini"),
)
# OpenAI's default temperature (1) is also the only one its reasoning models sample at.
_OPENAI_DEFAULT_TEMPERATURE: Final = 1.0

CAPABILITIES: Final[dict[str, dict[str, ModelCapabilities]]] = {
    "openai": {
        "": ModelCapabilities(
            "openai",
            "",
            search_endpoint="responses",
            default_temperature=_OPENAI_DEFAULT_TEMPERATURE,
        ),
        **{
            family: dataclasses.replace(
                _reasoning("openai", family, 16_384, 32_768),
                search_endpoint="responses",
                default_temperature=_OPENAI_DEFAULT_TEMPERATURE,
            )
            for family in _OPENAI_REASONING
        },
        # Chat Completions models that search the web on every request (there is no
        # web-search tool for them); they reject temperature ("Model incompatible request
        # argument supplied: temperature").
        **{
            family: ModelCapabilities("openai", family, temperature=False, search_endpoint="chat")
            for family in ("gpt-4o-search-preview", "gpt-4o-mini-search-preview")
        },
    },
    # API version 2026-10-21, which SDK 2.x sends, rejects temperature, top_p and top_k
    # (even at their defaults): Claude always samples at its default, temperature 1.0, the
    # top of its 0-1 range.
    "anthropic": {
        "": ModelCapabilities(
            "anthropic", "", temperature=False, max_temperature=1.0, default_temperature=1.0
        ),
        # Claude 3 Haiku writes at most 4,096 tokens: a larger retry limit is a 400.
        "claude-3-haiku": ModelCapabilities(
            "anthropic",
            "claude-3-haiku",
            temperature=False,
            max_temperature=1.0,
            default_temperature=1.0,
            retry_output_tokens=4_096,
        ),
    },
    "perplexity": {
        "": ModelCapabilities("perplexity", ""),
        "sonar-reasoning": _reasoning("perplexity", "sonar-reasoning", 8_192, 16_384),
        "sonar-reasoning-pro": _reasoning("perplexity", "sonar-reasoning-pro", 8_192, 16_384),
        "sonar-deep-research": _reasoning("perplexity", "sonar-deep-research", 16_384, 32_768),
    },
    "gemini": {
        "": ModelCapabilities("gemini", ""),
        # Gemini 2.5 and later think by default; thinking counts against the limit. They
        # still take a temperature.
        **{
            family: dataclasses.replace(
                _reasoning("gemini", family, 8_192, 24_576), temperature=True
            )
            for family in ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")
        },
        "gemini-3": dataclasses.replace(
            _reasoning("gemini", "gemini-3", 8_192, 24_576), temperature=True
        ),
    },
    "openai_compatible": {"": ModelCapabilities("openai_compatible", "")},
    # Synthetic answers are never cut off: nothing to retry.
    "demo": {"": ModelCapabilities("demo", "", retry_output_tokens=None)},
}


def capabilities_for(
    vendor: str, model: str, *, output_tokens: Mapping[str, int] | None = None
) -> ModelCapabilities:
    """The capabilities of ``model`` (its family's, else its vendor's default).

    ``output_tokens`` overrides output limits by ``vendor:family`` (or ``vendor`` for all
    its models); the retry limit is never below an overridden limit.
    """
    table = CAPABILITIES.get(vendor) or {"": ModelCapabilities(vendor, "")}
    family = longest_prefix(model, (key for key in table if key)) or ""
    found = table[family]
    overrides = output_tokens or {}
    limit = overrides.get(f"{vendor}:{family}") if family else None
    if limit is None:
        limit = overrides.get(vendor)
    if limit is None:
        return found
    retry = found.retry_output_tokens
    return dataclasses.replace(
        found,
        output_tokens=limit,
        retry_output_tokens=None if retry is None else max(retry, limit),
    )
