"""Running a coroutine from synchronous entry points (CLI commands, benchmarks)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is not built for Windows
    uvloop = None  # type: ignore[assignment]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it is installed: its event loop and sockets cost less CPU per
    call, which is what bounds a process making hundreds of concurrent API calls."""
    if uvloop is not None:
        return uvloop.run(coroutine)
    return asyncio.run(coroutine)  # pragma: no cover
