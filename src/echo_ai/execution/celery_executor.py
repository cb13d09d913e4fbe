"""The distributed executor: a batch's chunks become Celery tasks any worker can take."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence

from celery import Celery
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.db import transaction
from echo_ai.execution.broker import QueuedChunks
from echo_ai.execution.celery_app import RUN_CHUNK
from echo_ai.observability import log_context
from echo_ai.runs import service
from echo_ai.runs.adaptive import first_chunk
from echo_ai.runs.models import BatchRun

log = logging.getLogger(__name__)


Message = tuple[str, int, dict[str, str]]
"""A chunk task to send: the batch's id, the chunk, the log context."""


def _chunks_to_send(batch: BatchRun) -> range:
    if batch.precision is None:
        return range(batch.chunk_count)
    first = first_chunk(batch.stored, batch.chunk_size, batch.chunk_count)
    return range(first, first + 1)


def send_chunks(app: Celery, queued: QueuedChunks, messages: Sequence[Message]) -> None:
    """Send chunk tasks, each marked as waiting first (see :mod:`echo_ai.execution.broker`);
    those that could not be sent are unmarked again before the error is raised."""
    queued.mark((batch_run_id, chunk) for batch_run_id, chunk, _ in messages)
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for batch_run_id, chunk, context in messages:
                app.send_task(
                    RUN_CHUNK,
                    args=[batch_run_id, chunk],
                    kwargs={"context": context},
                    producer=producer,
                    retry=True,
                    retry_policy={
                        "max_retries": 3,
                        "interval_start": 0.2,
                        "interval_step": 0.5,
                    },
                )
                sent += 1
    except Exception:
        # Not sent: not waiting either, or the scheduler would never take them up.
        with contextlib.suppress(Exception):
            for batch_run_id, chunk, _ in messages[sent:]:
                queued.unmark(batch_run_id, chunk)
        raise


class CeleryExecutor:
    def __init__(
        self,
        app: Celery,
        session_factory: async_sessionmaker[AsyncSession],
        queued: QueuedChunks | None = None,
    ) -> None:
        self.app = app
        self.session_factory = session_factory
        self.queued = queued or QueuedChunks.from_url(
            str(app.conf.broker_url),
            mark_seconds=app.conf.broker_transport_options["visibility_timeout"],
        )
        """Where each chunk sent is marked as waiting (in the broker's Redis database)."""

    async def run_experiment(self, experiment_id: uuid.UUID) -> None:
        """Send the chunks of the experiment's unfinished batches (after the commit)."""
        async with transaction(self.session_factory) as session:
            batches = await service.runnable_batches(session, experiment_id)
        await self.run_batches(batches)

    async def run_batches(self, batches: Sequence[BatchRun]) -> None:
        """One task per chunk, each marked as waiting before it is sent (see
        :mod:`echo_ai.execution.broker`). If the broker cannot be reached the batches stay
        queued in the database, and the scheduler dispatches them again once they count
        as stalled."""
        context = log_context()  # request and workspace ids, onto the worker's log lines
        # Chunk 0 of every batch, then chunk 1 of every batch...: the queue alternates
        # between providers, so the chunks running at any time call several of them and
        # each provider's rate limit is used, instead of one provider's chunks filling
        # every worker while the others wait.
        # An adaptive batch sends only the chunk it starts (or resumes) at: each of its
        # chunks sends the next once it has looked (see echo_ai.runs.adaptive).
        most = max((batch.chunk_count for batch in batches), default=0)
        messages = [
            (
                str(batch.id),
                chunk,
                {
                    **context,
                    "experiment_id": str(batch.experiment_id),
                    "provider": f"{batch.provider}:{batch.model}",
                },
            )
            for chunk in range(most)
            for batch in batches
            if chunk in _chunks_to_send(batch)
        ]
        try:
            await asyncio.to_thread(self._send, messages)
        except Exception:
            log.exception(
                "could not send %d chunk(s) to the broker; the scheduler will retry",
                len(messages),
            )

    def _send(self, messages: list[Message]) -> None:
        send_chunks(self.app, self.queued, messages)

    async def cancel(self, batch_run_ids: list[uuid.UUID]) -> None:
        """Nothing to send: a worker re-reads its batch's status about every second (see
        :data:`echo_ai.execution.runner.CANCEL_CHECK_SECONDS`) and a chunk not yet started finds
        nothing to claim."""
