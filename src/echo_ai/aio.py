"""Running a coroutine from synchronous entry points (CLI commands, benchmarks), and
keeping a long-lived event loop responsive."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
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


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """While a service runs, leave the objects that exist once it has started (modules,
    the app, pools, clients) out of the garbage collector's full passes (``gc.freeze``).

    Those passes stop every thread and, while a large experiment allocates answers, come
    every second or so: with the start-up objects scanned each time they held the event
    loop (and the requests it serves) for 0.1 to 0.3 s a pass. No collection comes first:
    a full pass over a large process costs more than the little start-up garbage it would
    free (in a test process that starts hundreds of apps it doubled the suite's time), and
    that garbage is handed back on the way out with the rest.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
