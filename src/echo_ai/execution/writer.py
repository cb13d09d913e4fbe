"""Durable, idempotent storage of iterations with group commit.

Each finished iteration is written at once; when many finish together they share one
transaction, so SQLite's single writer (and PostgreSQL's commit latency) does not become
the bottleneck. An iteration that is already stored (a re-delivered chunk) is skipped by
the unique ``(batch_run_id, index)`` key, never duplicated.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.db import transaction, utcnow
from echo_ai.runs.models import BatchRun, Iteration


async def insert_iterations(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, ignoring any whose ``(batch_run_id, index)`` is already stored; add
    those inserted to their batches' counters and note the batches' sign of life
    (``heartbeat_at``)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Iteration)
        .on_conflict_do_nothing(index_elements=["batch_run_id", "index"])
        .returning(Iteration.batch_run_id, Iteration.success)
    )
    # In key order: two writers (processes) storing the same batches never wait on each
    # other's rows in opposite orders.
    ordered = sorted(rows, key=lambda row: (str(row["batch_run_id"]), row["index"]))
    inserted = (await session.execute(statement, ordered)).all()
    succeeded = Counter(row.batch_run_id for row in inserted if row.success)
    failed = Counter(row.batch_run_id for row in inserted if not row.success)
    now = utcnow()
    # Every batch written to moves its heartbeat, even if all its rows were repeats; in
    # id order, for the same reason as the rows.
    batch_ids: list[uuid.UUID] = sorted({row["batch_run_id"] for row in rows}, key=str)
    for batch_id in batch_ids:
        ok, bad = succeeded[batch_id], failed[batch_id]
        await session.execute(
            update(BatchRun)
            .where(BatchRun.id == batch_id)
            .values(
                stored=BatchRun.stored + ok + bad,
                succeeded=BatchRun.succeeded + ok,
                failed=BatchRun.failed + bad,
                heartbeat_at=now,
            )
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
