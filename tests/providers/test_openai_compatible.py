"""OpenAICompatibleProvider (Ollama, vLLM, OpenRouter...) against the fake chat endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from echo_ai.providers.base import (
    AnswerClass,
    CompletionRequest,
    GroundingMissing,
    MalformedResponse,
    QuotaExhausted,
    RateLimited,
    ServerError,
)
from echo_ai.providers.openai_compatible import OpenAICompatibleProvider
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.providers.bodies import body

PROMPT = "Best open-source CRM?"


@pytest.fixture
async def provider(fake_llm: FakeLLMServer) -> AsyncIterator[OpenAICompatibleProvider]:
    adapter = OpenAICompatibleProvider(base_url=f"{fake_llm.base_url}/v1")
    yield adapter
    await adapter.aclose()


async def test_answers_through_chat_completions_without_a_key(
    provider: OpenAICompatibleProvider, fake_llm: FakeLLMServer
) -> None:
    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model="llama3.1:8b"))
    path, body = fake_llm.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["model"] == "llama3.1:8b"
    assert body["max_tokens"] == 2048
    assert "max_completion_tokens" not in body
    assert provider.name == "openai_compatible"
    assert completion.model_version == "llama3.1:8b"
    assert completion.text
    assert completion.output_tokens
    assert not completion.searched


async def test_optional_grounding_is_answered_without_search(
    provider: OpenAICompatibleProvider,
) -> None:
    request = CompletionRequest(prompt=PROMPT, model="m", grounding=True)
    completion = await provider.complete(request)
    assert not completion.searched
    assert completion.citations == ()


async def test_required_grounding_fails_before_any_request(
    provider: OpenAICompatibleProvider, fake_llm: FakeLLMServer
) -> None:
    request = CompletionRequest(prompt=PROMPT, model="m", grounding=True, require_grounding=True)
    with pytest.raises(GroundingMissing):
        await provider.complete(request)
    assert fake_llm.request_count == 0


@pytest.mark.parametrize(
    ("outcome", "error_type"),
    [
        ("429", RateLimited),
        ("quota", QuotaExhausted),
        ("503", ServerError),
        ("malformed", MalformedResponse),
    ],
)
async def test_failures_map_onto_our_errors(
    provider: OpenAICompatibleProvider,
    fake_llm: FakeLLMServer,
    outcome: str,
    error_type: type[Exception],
) -> None:
    fake_llm.config.script = [outcome]
    with pytest.raises(error_type):
        await provider.complete(CompletionRequest(prompt=PROMPT, model="m"))
    assert fake_llm.request_count == 1


def test_base_url_is_required() -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatibleProvider(base_url="")


async def test_parameters_sent_are_reported(
    provider: OpenAICompatibleProvider, fake_llm: FakeLLMServer
) -> None:
    request = CompletionRequest(prompt=PROMPT, model="llama3.1:8b", temperature=0.4)
    completion = await provider.complete(request)
    [(_, sent)] = fake_llm.requests
    assert sent["temperature"] == 0.4
    assert completion.answer_class is AnswerClass.COMPLETE
    assert completion.parameters == {
        "endpoint": "chat.completions",
        "model": "llama3.1:8b",
        "temperature": 0.4,
        "max_tokens": 2048,
        "temperature_used": 0.4,
    }


@pytest.mark.parametrize(
    ("name", "answer_class", "stop_reason"),
    [
        ("chat_length", AnswerClass.TRUNCATED, "length"),
        ("chat_refusal", AnswerClass.REFUSED, "stop"),
        ("chat_empty", AnswerClass.EMPTY, "stop"),
    ],
)
async def test_stop_reasons_class_the_answer_as_for_openai(
    provider: OpenAICompatibleProvider,
    fake_llm: FakeLLMServer,
    name: str,
    answer_class: AnswerClass,
    stop_reason: str,
) -> None:
    # Compatible servers copy OpenAI's finish reasons and refusal field.
    fake_llm.config.bodies = [body("openai", name)]
    completion = await provider.complete(CompletionRequest(prompt=PROMPT, model="m"))
    assert completion.answer_class is answer_class
    assert completion.stop_reason == stop_reason
    assert not completion.searched
