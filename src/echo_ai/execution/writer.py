"""Durable, idempotent storage of iterations with group commit.

Each finished iteration is written at once; when many finish together they share one
transaction, so SQLite's single writer (and PostgreSQL's commit latency) does not become
the bottleneck. An iteration that is already stored (a re-delivered chunk) is skipped by
the unique ``(batch_run_id, index)`` key, never duplicated.

A busy database (no pooled connection free in time, SQLite's write lock held by another
process) only delays storage: the same transaction is tried again with back-off
(:func:`echo_ai.db.retry_transient`). The answers waiting to be stored were paid for; they
are not dropped, and their batch does not fail, because a connection was slow to come.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.db import is_transient, retry_transient, transaction, utcnow
from echo_ai.metering import ledger
from echo_ai.metering.ledger import Reservation, StoredLine
from echo_ai.metering.units import month_of, to_nano
from echo_ai.providers.base import AnswerClass
from echo_ai.runs.models import BatchRun, Iteration

log = logging.getLogger(__name__)

GROUP_MAX_ROWS = 64
"""Rows stored in one transaction at most. Preparing a row (its JSON, its parameters) runs
on the event loop: a bounded group keeps each step short, so requests served by the same
loop never wait long behind a backlog of answers; SQLite's write lock is held as briefly."""

DRAIN_SECONDS = 30.0
"""At shutdown, how long the rows already handed over may take to be stored."""


BATCH_PARAMETERS = "batch_parameters"
"""A row may carry, under this key, the generation parameters its answer was asked with:
its batch keeps the first it is given (in the same update as its counters)."""

METER = "meter"
"""A row of a workspace's batch carries, under this key, a :class:`Meter`: the monthly
counters (:mod:`echo_ai.metering`) move in the transaction that stores it."""


@dataclass(frozen=True)
class Meter:
    workspace_id: uuid.UUID
    experiment_id: uuid.UUID
    provider: str
    """``vendor:model``."""
    reservation: Reservation | None = None
    """What the row's call reserved of the budget: released as the row is stored."""


_PRIVATE_KEYS = (BATCH_PARAMETERS, METER)

_KIND_COUNTERS: dict[str | None, Any] = {
    AnswerClass.COMPLETE: BatchRun.succeeded,
    AnswerClass.TRUNCATED: BatchRun.truncated,
    AnswerClass.REFUSED: BatchRun.refused,
    AnswerClass.EMPTY: BatchRun.empty,
    "failed": BatchRun.failed,
}
"""The batch counter each kind of stored row moves."""


async def insert_iterations(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, ignoring any whose ``(batch_run_id, index)`` is already stored; add
    those inserted to their batches' counters and to their workspaces' monthly counters
    (:class:`Meter`), release what their calls reserved, and note the batches' sign of
    life (``heartbeat_at``)."""
    if not rows:
        return
    parameters: dict[uuid.UUID, Any] = {}
    meters: dict[uuid.UUID, Meter] = {}
    reservations: list[Reservation] = []
    for row in rows:
        sent = row.get(BATCH_PARAMETERS)
        if sent:  # none reported (the demo provider sends none): nothing to record
            parameters.setdefault(row["batch_run_id"], sent)
        meter = row.get(METER)
        if meter is not None:
            meters.setdefault(row["batch_run_id"], meter)
            if meter.reservation is not None:
                reservations.append(meter.reservation)
    rows = [{k: v for k, v in row.items() if k not in _PRIVATE_KEYS} for row in rows]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Iteration)
        .on_conflict_do_nothing(index_elements=["batch_run_id", "index"])
        .returning(
            Iteration.batch_run_id, Iteration.success, Iteration.answer_class, Iteration.cost_usd
        )
    )
    # In key order: two writers (processes) storing the same batches never wait on each
    # other's rows in opposite orders.
    ordered = sorted(rows, key=lambda row: (str(row["batch_run_id"]), row["index"]))
    inserted = (await session.execute(statement, ordered)).all()
    # Per batch, how many rows of each kind: a failed call, or an answer of each class.
    kinds = Counter(
        (row.batch_run_id, row.answer_class if row.success else "failed") for row in inserted
    )
    now = utcnow()
    # Every batch written to moves its heartbeat, even if all its rows were repeats; in
    # id order, for the same reason as the rows.
    batch_ids: list[uuid.UUID] = sorted({row["batch_run_id"] for row in rows}, key=str)
    for batch_id in batch_ids:
        counts = {kind: kinds[batch_id, kind] for kind in _KIND_COUNTERS}
        await session.execute(
            update(BatchRun)
            .where(BatchRun.id == batch_id)
            .values(
                {
                    BatchRun.stored: BatchRun.stored + sum(counts.values()),
                    **{
                        counter: counter + counts[kind]
                        for kind, counter in _KIND_COUNTERS.items()
                        if counts[kind]
                    },
                    BatchRun.heartbeat_at: now,
                    **_first_parameters(parameters.get(batch_id)),
                }
            )
            .execution_options(synchronize_session=False)
        )
    await _meter(session, inserted, meters, reservations)


async def _meter(
    session: AsyncSession,
    inserted: Sequence[Any],
    meters: dict[uuid.UUID, Meter],
    reservations: Sequence[Reservation],
) -> None:
    """The monthly counters of the inserted rows' workspaces (repeats are not counted: their
    first storage was), and the release of every row's reservation."""
    counts: Counter[uuid.UUID] = Counter()
    costs: Counter[uuid.UUID] = Counter()
    for row in inserted:
        if row.batch_run_id in meters:
            counts[row.batch_run_id] += 1
            costs[row.batch_run_id] += to_nano(row.cost_usd)
    lines = [
        StoredLine(
            workspace_id=meter.workspace_id,
            experiment_id=meter.experiment_id,
            provider=meter.provider,
            iterations=counts[batch_id],
            cost_nusd=costs[batch_id],
        )
        for batch_id, meter in meters.items()
    ]
    await ledger.record_stored(session, lines, month=month_of(utcnow()))
    await ledger.release(session, reservations)


def _first_parameters(sent: Any) -> dict[Any, Any]:
    """The update that keeps ``sent`` as the batch's parameters unless it has some."""
    if sent is None:
        return {}
    value = bindparam(None, sent, type_=BatchRun.parameters.type)
    return {
        BatchRun.parameters: case((BatchRun.parameters.is_(None), value), else_=BatchRun.parameters)
    }


class IterationWriter:
    """Writes iterations as they complete; ``await write(row)`` returns once it is committed."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, row: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def drain(self, *, within: float = DRAIN_SECONDS) -> None:
        """Wait until the rows already handed over are stored: at shutdown their callers
        have been cancelled, but the calls were made (and paid for). Past ``within``
        seconds the flush is cancelled; what it had not stored, resume calls again."""
        flusher = self._flusher
        if flusher is None or flusher.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(flusher), within)
        except TimeoutError:
            log.warning("stopped storing iterations after %.0f s at shutdown", within)
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)

    async def _store(self, rows: list[dict[str, Any]]) -> None:
        """Store ``rows`` in one transaction, tried again while the database is busy."""

        async def attempt() -> None:
            async with transaction(self._session_factory) as session:
                await insert_iterations(session, rows)

        await retry_transient(attempt, what=f"storing {len(rows)} iteration(s)", clock=self._clock)

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[:GROUP_MAX_ROWS]
            del self._pending[:GROUP_MAX_ROWS]
            try:
                await self._store([row for row, _ in batch])
            except Exception as error:
                if is_transient(error):  # still busy after every retry: each waiter learns it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                # One bad row must not fail its neighbours: store them one by one.
                for row, future in batch:
                    await self._store_one(row, future)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _store_one(self, row: dict[str, Any], future: asyncio.Future[None]) -> None:
        try:
            await self._store([row])
        except Exception as error:  # the waiter for this row must learn of it
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(None)
