"""Fixtures for provider tests: one fake LLM server per session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from echo_ai.testing.fake_llm import FakeLLMServer


@pytest.fixture(scope="session")
def _fake_llm_session() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(_fake_llm_session: FakeLLMServer) -> FakeLLMServer:
    """The running fake server with a default config, an empty script and no request log.

    Tests change ``fake_llm.config`` (rates, ``script``, brands...) freely; the next test
    starts clean again.
    """
    _fake_llm_session.reset()
    return _fake_llm_session
