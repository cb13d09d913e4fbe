"""Executors hand a batch's chunks to runners: in this process, or to Celery workers.

:class:`LocalExecutor` (the embedded default) runs a batch's chunks as asyncio tasks here;
:class:`echo_ai.execution.celery_executor.CeleryExecutor` sends the same chunks to
workers instead. The runner, storage and finalisation are the same.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Protocol

from echo_ai.db import is_transient, retry_transient, transaction
from echo_ai.execution.runner import ChunkEnd, Runner, failure_of
from echo_ai.observability import bound_context
from echo_ai.runs import service
from echo_ai.runs.adaptive import first_chunk
from echo_ai.runs.models import BatchRun

log = logging.getLogger(__name__)

CHUNK_RETRY_FIRST_SECONDS = 0.5
"""The first pause before an in-process chunk that met a busy database runs again."""


class Executor(Protocol):
    async def run_experiment(self, experiment_id: uuid.UUID) -> None:
        """Run the experiment's unfinished batches (called after the commit that queued
        them)."""

    async def run_batches(self, batches: Sequence[BatchRun]) -> None:
        """Run these batches' missing iterations again (stalled batches)."""

    async def cancel(self, batch_run_ids: list[uuid.UUID]) -> None:
        """Stop starting calls for batches cancelled in the database."""


def chunks_per_vendor(concurrency_per_provider: int, chunk_size: int) -> int:
    """Chunks the in-process executor runs at once for one vendor: enough to keep every
    concurrency slot of the vendor busy, and one more so that the next chunk has started
    when one ends. More would only wait for slots, each holding its claim and database
    work in the meantime."""
    return -(-concurrency_per_provider // chunk_size) + 1


class LocalExecutor:
    """Runs chunks in this process, at most :func:`chunks_per_vendor` at a time for each
    vendor, taken in turn from every batch of that vendor (a large experiment's ten
    batches all move, none waits for the others to end).

    That bound is what the worker's database pool is sized to (each running chunk uses
    one connection at a time, see :func:`echo_ai.execution.runtime.worker_pool_size`).
    A chunk that fails because the database stayed busy runs again after a pause (up to
    ``max_retries`` times); any other exception stops the batch's other chunks and fails
    the batch.
    """

    def __init__(self, runner: Runner, *, chunks_per_vendor: int, max_retries: int) -> None:
        self.runner = runner
        self.chunks_per_vendor = chunks_per_vendor
        self.max_retries = max_retries
        self._running: set[uuid.UUID] = set()
        self._gates: dict[str, asyncio.Semaphore] = {}

    def _gate(self, vendor: str) -> asyncio.Semaphore:
        if vendor not in self._gates:
            self._gates[vendor] = asyncio.Semaphore(self.chunks_per_vendor)
        return self._gates[vendor]

    async def run_batch(self, batch: BatchRun) -> None:
        with bound_context(
            experiment_id=batch.experiment_id,
            batch_run_id=batch.id,
            provider=f"{batch.provider}:{batch.model}",
        ):
            await self._run_batch(batch)

    async def _run_batch(self, batch: BatchRun) -> None:
        """Run every chunk of the batch here, holding its lease throughout (given back
        at the end); a batch whose lease another live process holds is left to it."""
        self._running.add(batch.id)
        try:
            if not await self.runner.leases.acquire(batch.id):
                log.info("batch %s is run by another process (or has ended): left to it", batch.id)
                return
            async with self.runner.leases.hold(batch.id, release=True):
                await self._run_chunks(batch)
        finally:
            self._running.discard(batch.id)
            self.runner.forget(batch.id)

    async def _run_chunks(self, batch: BatchRun) -> None:
        if batch.precision is None:
            chunks = iter(range(batch.chunk_count))
            drivers = min(self.chunks_per_vendor, batch.chunk_count)
            work = [self._drive(batch, chunks) for _ in range(drivers)]
        else:
            work = [self._drive_rounds(batch)]
        results = await asyncio.gather(*work, return_exceptions=True)
        crashes = [result for result in results if isinstance(result, BaseException)]
        if crashes:
            # A bug or a database away for good must not leave the batch "running"
            # for ever. The crashing chunk stopped the batch's other chunks from
            # starting new calls (they were not cancelled mid-transaction, which could
            # leave a SQLite write lock behind); all of them have ended here.
            failure = failure_of(crashes[0])
            log.error("batch %s failed (%s)", batch.id, failure.code, exc_info=crashes[0])

            async def fail() -> None:
                await self.runner.fail_batch(batch.id, failure)

            await retry_transient(fail, what=f"failing batch {batch.id}", clock=self.runner.clock)

    async def _drive(self, batch: BatchRun, chunks: Iterator[int]) -> None:
        """Run the batch's next chunks, one at a time, each in a turn of its vendor's gate,
        until none is left or the batch has stopped here."""
        gate = self._gate(batch.provider)
        for chunk in chunks:
            async with gate:
                if self.runner.halted(batch.id):
                    return
                await self._run_chunk(batch.id, chunk)

    async def _drive_rounds(self, batch: BatchRun) -> None:
        """Run an adaptive batch's chunks one after the other, from the first not wholly
        stored, each in a turn of its vendor's gate, until a look stops the batch (or it
        has stopped here)."""
        gate = self._gate(batch.provider)
        chunk: int | None = first_chunk(batch.stored, batch.chunk_size, batch.chunk_count)
        while chunk is not None:
            async with gate:
                if self.runner.halted(batch.id):
                    return
                chunk = (await self._run_chunk(batch.id, chunk)).next_chunk

    async def _run_chunk(self, batch_run_id: uuid.UUID, chunk: int) -> ChunkEnd:
        delay = CHUNK_RETRY_FIRST_SECONDS
        for attempt in range(self.max_retries + 1):
            try:
                return await self.runner.run_chunk(batch_run_id, chunk)
            except Exception as error:
                if not is_transient(error) or attempt == self.max_retries:
                    raise
                log.warning(
                    "chunk %s of batch %s: database busy (%s); running it again in %.1f s",
                    chunk,
                    batch_run_id,
                    type(error).__name__,
                    delay,
                )
                await self.runner.clock.sleep(delay)
                delay *= 2
        raise AssertionError("the last attempt returns or raises")

    def halt_all(self) -> None:
        """At shutdown: every batch running here starts no new call; calls in flight end
        and are stored, each chunk ends its transactions, the leases are given back.
        The batches stay unfinished: the next start resumes them."""
        for batch_run_id in self._running:
            self.runner.cancel(batch_run_id)

    async def cancel(self, batch_run_ids: list[uuid.UUID]) -> None:
        """Stop starting calls for batches cancelled in the database (run after the cancel
        has committed). Batches not running here are left to notice it themselves: their
        runner re-reads the status (see :data:`echo_ai.execution.runner.CANCEL_CHECK_SECONDS`)
        and a chunk not yet started finds nothing to claim."""
        for batch_run_id in batch_run_ids:
            if batch_run_id in self._running:
                self.runner.cancel(batch_run_id)

    async def run_experiment(self, experiment_id: uuid.UUID) -> None:
        """Run the experiment's unfinished batches here; returns when they have ended."""
        async with transaction(self.runner.session_factory) as session:
            batches = await service.runnable_batches(session, experiment_id)
        await self.run_batches(batches)

    async def run_batches(self, batches: Sequence[BatchRun]) -> None:
        """Run the batches here (those already running in this process are left alone)."""
        fresh = [batch for batch in batches if batch.id not in self._running]
        self._running.update(batch.id for batch in fresh)  # now: a second call skips them
        await asyncio.gather(*(self.run_batch(batch) for batch in fresh))
