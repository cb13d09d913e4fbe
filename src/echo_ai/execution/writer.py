"""Durable, idempotent storage of iterations with group commit.

Each finished iteration is written at once; when many finish together they share one
transaction, so SQLite's single writer (and PostgreSQL's commit latency) does not become
the bottleneck. An iteration that is already stored (a re-delivered chunk) is skipped by
the unique ``(batch_run_id, index)`` key, never duplicated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.db import transaction, utcnow
from echo_ai.runs.models import BatchRun, Iteration

HEARTBEAT_EVERY = timedelta(seconds=10)
"""A batch's heartbeat is moved at most this often (not rewriting its row on every write)."""


async def insert_iterations(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, ignoring any whose ``(batch_run_id, index)`` is already stored, and
    note the batches' sign of life (``heartbeat_at``)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Iteration).on_conflict_do_nothing(index_elements=["batch_run_id", "index"])
    await session.execute(statement, list(rows))
    now = utcnow()
    await session.execute(
        update(BatchRun)
        .where(
            BatchRun.id.in_({row["batch_run_id"] for row in rows}),
            or_(BatchRun.heartbeat_at.is_(None), BatchRun.heartbeat_at < now - HEARTBEAT_EVERY),
        )
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )


class IterationWriter:
    """Writes iterations as they complete; ``await write(row)`` returns once it is committed."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, row: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with transaction(self._session_factory) as session:
                    await insert_iterations(session, [row for row, _ in batch])
            except Exception:
                # One bad row must not fail its neighbours: store them one by one.
                for row, future in batch:
                    await self._store_one(row, future)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _store_one(self, row: dict[str, Any], future: asyncio.Future[None]) -> None:
        try:
            async with transaction(self._session_factory) as session:
                await insert_iterations(session, [row])
        except Exception as error:  # the waiter for this row must learn of it
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(None)
