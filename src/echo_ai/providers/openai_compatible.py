"""Any server speaking OpenAI's Chat Completions: Ollama, vLLM, LM Studio, OpenRouter, Mistral...

These servers have no common web-search tool, so a request that *requires* grounding fails
closed instead of silently measuring an ungrounded answer. URLs the model writes into its
text are left for the extractor to find.
"""

from __future__ import annotations

from openai import AsyncOpenAI, DefaultAioHttpClient

from echo_ai.providers.base import Completion, CompletionRequest, GroundingMissing, sdk_client
from echo_ai.providers.openai import chat_complete

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
        self._client = sdk_client(
            AsyncOpenAI,
            DefaultAioHttpClient,
            api_key=api_key or _PLACEHOLDER_KEY,
            base_url=base_url,
            timeout_seconds=timeout_seconds,
            # The base URL may be a workspace's, checked not to reach the server's network
            # (echo_ai.security.outbound): a redirect must not take requests elsewhere.
            follow_redirects=False,
        )

    async def complete(self, request: CompletionRequest) -> Completion:
        if request.grounding and request.require_grounding:
            raise GroundingMissing(f"{self.name} has no web-search tool; grounding is required")
        # max_tokens rather than max_completion_tokens: every compatible server knows it.
        return await chat_complete(self._client, request, vendor=self.name, legacy_max_tokens=True)

    async def aclose(self) -> None:
        await self._client.close()
