"""Any server speaking OpenAI's Chat Completions: Ollama, vLLM, LM Studio, OpenRouter, Mistral...

These servers have no common web-search tool, so a request that *requires* grounding fails
closed instead of silently measuring an ungrounded answer. URLs the model writes into its
text are left for the extractor to find.
"""

from __future__ import annotations

from typing import Any

import openai
from openai import AsyncOpenAI, DefaultAioHttpClient

from echo_ai.providers.base import (
    Completion,
    CompletionRequest,
    GroundingMissing,
    MalformedResponse,
    stopwatch,
)
from echo_ai.providers.openai import (
    PARSE_ERRORS,
    chat_completion,
    chat_messages,
    translate_openai_error,
)

# Local servers ignore the key, but the SDK refuses to build a client without one.
_PLACEHOLDER_KEY = "not-needed"


class OpenAICompatibleProvider:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_seconds: float = 60.0,
        name: str = "openai_compatible",
    ) -> None:
        if not base_url:
            raise ValueError("an OpenAI-compatible provider needs a base_url")
        self.name = name
        self._client = AsyncOpenAI(
            api_key=api_key or _PLACEHOLDER_KEY,
            base_url=base_url,
            timeout=timeout_seconds,
            max_retries=0,
            http_client=DefaultAioHttpClient(timeout=timeout_seconds),
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        if request.grounding and request.require_grounding:
            raise GroundingMissing(f"{self.name} has no web-search tool; grounding is required")
        try:
            with stopwatch() as elapsed:
                # max_tokens rather than max_completion_tokens: every compatible server knows it.
                raw: Any = await self._client.chat.completions.create(
                    model=request.model,
                    messages=chat_messages(request),  # type: ignore[arg-type]
                    temperature=request.temperature,
                    max_tokens=request.max_output_tokens,
                )
        except openai.OpenAIError as exc:
            raise translate_openai_error(exc) from exc
        except PARSE_ERRORS as exc:
            raise MalformedResponse(f"unreadable body: {exc!r}") from exc
        return chat_completion(raw, elapsed[0])

    async def aclose(self) -> None:
        await self._client.close()
