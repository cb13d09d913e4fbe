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


class SystemClock:
    """Real time: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
