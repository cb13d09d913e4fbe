"""Helpers shared by the adapter tests."""

from __future__ import annotations

import socket

import pytest

from echo_ai.providers.base import CompletionRequest, Provider


def closed_port_url() -> str:
    """A local base URL nothing listens on: a port the OS handed out, then let go."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def assert_complete_raises(
    adapter: Provider, request: CompletionRequest, error: type[Exception]
) -> None:
    """``adapter.complete(request)`` raises ``error``; the adapter is closed either way."""
    try:
        with pytest.raises(error):
            await adapter.complete(request)
    finally:
        await adapter.aclose()
