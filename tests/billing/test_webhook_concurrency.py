"""Two deliveries of one event at the same moment on PostgreSQL: the second insert waits
for the first transaction and then does nothing, so the event is processed once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from echo_ai.billing.stripe_billing import VerifiedEvent, record_event
from echo_ai.db import utcnow
from echo_ai.execution.runtime import Runtime
from tests.kit import wait_until


async def test_a_concurrent_delivery_waits_and_is_not_processed(
    backend: str, runtime: Runtime
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite runs one writer at a time: there is no concurrent insert")
    event = VerifiedEvent(id="evt_concurrent", type="invoice.paid", object={})
    async with runtime.session_factory() as first, runtime.session_factory() as second:
        await first.begin()
        assert await record_event(first, event, workspace_id=None, now=utcnow())
        pid = await second.scalar(text("SELECT pg_backend_pid()"))
        racing = asyncio.create_task(record_event(second, event, workspace_id=None, now=utcnow()))

        async def waiting_on_a_lock() -> bool:
            async with runtime.session_factory() as watcher:
                state = await watcher.scalar(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                )
            return state == "Lock"

        await wait_until(waiting_on_a_lock)
        assert not racing.done()
        await first.commit()
        assert await racing is False
        await second.commit()
    assert not await _record_again(runtime, event)


async def _record_again(runtime: Runtime, event: VerifiedEvent) -> bool:
    async with runtime.session_factory() as session, session.begin():
        return await record_event(session, event, workspace_id=None, now=utcnow())
