"""Executors hand a batch's chunks to runners: in this process, or to Celery workers.

:class:`LocalExecutor` (the embedded default) runs every chunk of a batch as an asyncio
task here; :class:`echo_ai.execution.celery_executor.CeleryExecutor` sends the same chunks to
workers instead. The runner, storage and finalisation are the same.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Protocol

from echo_ai.db import transaction
from echo_ai.execution.runner import Runner, crash_reason
from echo_ai.observability import bound_context
from echo_ai.runs import service
from echo_ai.runs.models import BatchRun

log = logging.getLogger(__name__)


class Executor(Protocol):
    async def run_experiment(self, experiment_id: uuid.UUID) -> None:
        """Run the experiment's unfinished batches (called after the commit that queued
        them)."""

    async def run_batches(self, batches: Sequence[BatchRun]) -> None:
        """Run these batches' missing iterations again (stalled batches)."""

    async def cancel(self, batch_run_ids: list[uuid.UUID]) -> None:
        """Stop starting calls for batches cancelled in the database."""


class LocalExecutor:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._running: set[uuid.UUID] = set()

    async def run_batch(self, batch: BatchRun) -> None:
        with bound_context(experiment_id=batch.experiment_id, batch_run_id=batch.id):
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
        results = await asyncio.gather(
            *(self.runner.run_chunk(batch.id, chunk) for chunk in range(batch.chunk_count)),
            return_exceptions=True,
        )
        crashes = [result for result in results if isinstance(result, BaseException)]
        if crashes:
            # A bug or an unreachable database must not leave the batch "running" for
            # ever. The crashing chunk stopped the batch's other chunks from starting
            # new calls (they were not cancelled mid-transaction, which could leave a
            # SQLite write lock behind); all of them have ended here.
            log.error("batch %s crashed", batch.id, exc_info=crashes[0])
            async with transaction(self.runner.session_factory) as session:
                await service.fail(session, batch.id, crash_reason(crashes[0]))

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
