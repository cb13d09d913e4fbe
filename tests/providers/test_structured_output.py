"""Structured output through each adapter against the fake vendor servers: the request
carries the vendor's own form (OpenAI's and Perplexity's ``response_format``
``json_schema``, Anthropic's forced tool, Gemini's ``responseJsonSchema``) and the answer's
text is the JSON object; a truncated body is malformed, a vendor's failure our error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from echo_ai.providers.anthropic import AnthropicProvider
from echo_ai.providers.base import (
    CompletionRequest,
    MalformedResponse,
    Provider,
    QuotaExhausted,
    RateLimited,
    ServerError,
    StructuredOutput,
)
from echo_ai.providers.gemini import GeminiProvider
from echo_ai.providers.openai import OpenAIProvider
from echo_ai.providers.perplexity import PerplexityProvider
from echo_ai.testing.fake_llm import FakeLLMServer

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "brands": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "brand": {"type": "string", "enum": ["HubSpot", "Zoho"]},
                    "label": {"type": "string", "enum": ["positive", "neutral", "negative"]},
                    "score": {"type": "number"},
                },
                "required": ["brand", "label", "score"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["brands"],
    "additionalProperties": False,
}
ADAPTERS: dict[str, tuple[str, Callable[[str], Provider]]] = {
    "openai": (
        "gpt-4o-mini",
        lambda url: OpenAIProvider(api_key="k", base_url=f"{url}/v1", timeout_seconds=5),
    ),
    "anthropic": (
        "claude-sonnet-4-6",
        lambda url: AnthropicProvider(api_key="k", base_url=url, timeout_seconds=5),
    ),
    "gemini": (
        "gemini-2.5-flash",
        lambda url: GeminiProvider(api_key="k", base_url=url, timeout_seconds=5),
    ),
    "perplexity": (
        "sonar",
        lambda url: PerplexityProvider(api_key="k", base_url=url, timeout_seconds=5),
    ),
}


@pytest.fixture(params=sorted(ADAPTERS))
async def adapter(
    request: pytest.FixtureRequest, fake_llm: FakeLLMServer
) -> AsyncIterator[tuple[str, Provider]]:
    model, build = ADAPTERS[request.param]
    provider = build(fake_llm.base_url)
    yield model, provider
    await provider.aclose()


def _asked(model: str) -> CompletionRequest:
    return CompletionRequest(
        prompt="How does the answer speak of each brand?",
        model=model,
        temperature=0.0,
        max_output_tokens=500,
        structured=StructuredOutput(name="brand_sentiment", description="Verdicts.", schema=SCHEMA),
    )


def _schema_sent(vendor: str, sent: dict[str, Any]) -> Any:
    if vendor in ("openai", "perplexity"):
        shape = sent["response_format"]
        assert shape["type"] == "json_schema" and shape["json_schema"]["strict"] is True
        assert shape["json_schema"]["name"] == "brand_sentiment"
        return shape["json_schema"]["schema"]
    if vendor == "anthropic":
        assert sent["tool_choice"] == {"type": "tool", "name": "brand_sentiment"}
        [tool] = sent["tools"]
        return tool["input_schema"]
    config = sent["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    return config["responseJsonSchema"]


async def test_the_schema_is_sent_the_vendors_way_and_the_text_is_the_object(
    adapter: tuple[str, Provider], fake_llm: FakeLLMServer
) -> None:
    model, provider = adapter
    completion = await provider.complete(_asked(model))
    verdict = json.loads(completion.text)
    assert [item["brand"] for item in verdict["brands"]] == ["HubSpot", "Zoho"]
    assert completion.input_tokens and completion.output_tokens
    [(_, sent)] = fake_llm.requests
    assert _schema_sent(provider.name, sent) == SCHEMA


@pytest.mark.parametrize(
    ("outcome", "error"),
    [("malformed", MalformedResponse), ("429", RateLimited), ("500", ServerError),
     ("quota", QuotaExhausted)],
)  # fmt: skip
async def test_failures_are_our_errors(
    adapter: tuple[str, Provider], fake_llm: FakeLLMServer, outcome: str, error: type[Exception]
) -> None:
    model, provider = adapter
    fake_llm.config.script = [outcome]
    with pytest.raises(error):
        await provider.complete(_asked(model))


async def test_claude_answering_in_text_instead_of_the_tool_is_no_answer(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.config.bodies = [
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [{"type": "text", "text": '{"brands": []}'}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    ]
    provider = AnthropicProvider(api_key="k", base_url=fake_llm.base_url, timeout_seconds=5)
    try:
        completion = await provider.complete(_asked("claude-sonnet-4-6"))
    finally:
        await provider.aclose()
    assert completion.text == ""  # only the forced tool's input is the structured answer
