"""What a failed call tells users is the vendor's words or ours, never an exception's text.

A failed iteration's ``error_message`` is shown by the API and the exports; before issue
9 a timeout or an unreadable body carried the SDK exception's repr. Every adapter, on
every failure that is not the vendor's own answer: a truncated body, a stalled server, a
closed port.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from echo_ai.providers.anthropic import AnthropicProvider
from echo_ai.providers.base import CompletionRequest, Provider, ProviderError
from echo_ai.providers.gemini import GeminiProvider
from echo_ai.providers.openai import OpenAIProvider
from echo_ai.providers.perplexity import PerplexityProvider
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.providers.helpers import closed_port_url

ADAPTERS: dict[str, tuple[Callable[..., Provider], str, str]] = {
    # name: (adapter, model, path under the fake server's base URL)
    "openai": (OpenAIProvider, "gpt-4o-mini", "/v1"),
    "anthropic": (AnthropicProvider, "claude-sonnet-4-6", ""),
    "gemini": (GeminiProvider, "gemini-2.5-flash", ""),
    "perplexity": (PerplexityProvider, "sonar", ""),
}
EXCEPTION_TEXT = re.compile(r"\w+(Error|Exception|Timeout)\(|Traceback|<\w+ object|line \d+ column")
"""A repr (``ClientConnectorError(...)``), a traceback, an object, a JSON decoder's
position: what users must not be shown."""


async def _failure(adapter: Provider, model: str) -> ProviderError:
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(CompletionRequest(prompt="Best CRM?", model=model))
    finally:
        await adapter.aclose()
    return caught.value


@pytest.mark.parametrize("vendor", sorted(ADAPTERS))
@pytest.mark.parametrize("outcome", ["malformed", "hang", "unreachable"])
async def test_failures_without_a_vendor_answer_are_told_in_our_words(
    fake_llm: FakeLLMServer, vendor: str, outcome: str
) -> None:
    make, model, path = ADAPTERS[vendor]
    base_url = closed_port_url() if outcome == "unreachable" else fake_llm.base_url + path
    fake_llm.config.script = [outcome] if outcome != "unreachable" else []
    fake_llm.config.hang_seconds = 3
    adapter = make(api_key="k", base_url=base_url, timeout_seconds=0.3)

    error = await _failure(adapter, model)

    assert error.message and not EXCEPTION_TEXT.search(error.message), error.message
    assert error.__cause__ is not None or error.__context__ is not None  # kept for the log
