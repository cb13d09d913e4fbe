"""A local HTTP server speaking the LLM vendors' wire formats, for tests and benchmarks.

No machine running Echo AI's tests reaches a real vendor, so the real adapters (official
SDKs included) are exercised against this server instead.
"""

from echo_ai.testing.fake_llm.config import FakeLLMConfig
from echo_ai.testing.fake_llm.server import FakeLLMServer, create_app, main

__all__ = ["FakeLLMConfig", "FakeLLMServer", "create_app", "main"]
