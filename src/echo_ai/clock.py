"""The clock that time-dependent run logic reads and waits on.

Code that spaces or re-checks things over time takes a :class:`Clock` instead of calling
:mod:`time` and :mod:`asyncio` directly, so tests can drive time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (only differences mean anything)."""

    async def sleep(self, seconds: float) -> None:
        """Wait this long."""

    def time(self) -> float:
        """Seconds since the epoch: unlike :meth:`monotonic`, comparable between processes
        (state shared by several replicas in Redis keeps times from this clock)."""


class SystemClock:
    """Real time: :func:`time.monotonic`, :func:`asyncio.sleep` and :func:`time.time`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK: Clock = SystemClock()
