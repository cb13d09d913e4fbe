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
from echo_ai.runs.models import BatchRun

log = logging.getLogger(__name__)


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
            if chunk < batch.chunk_count
        ]
        try:
            await asyncio.to_thread(self._send, messages)
        except Exception:
            log.exception(
                "could not send %d chunk(s) to the broker; the scheduler will retry",
                len(messages),
            )

    def _send(self, messages: list[tuple[str, int, dict[str, str]]]) -> None:
        self.queued.mark((batch_run_id, chunk) for batch_run_id, chunk, _ in messages)
        sent = 0
        try:
            with self.app.producer_or_acquire() as producer:
                for batch_run_id, chunk, context in messages:
                    self.app.send_task(
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
                    self.queued.unmark(batch_run_id, chunk)
            raise

    async def cancel(self, batch_run_ids: list[uuid.UUID]) -> None:
        """Nothing to send: a worker re-reads its batch's status about every second (see
        :data:`echo_ai.execution.runner.CANCEL_CHECK_SECONDS`) and a chunk not yet started finds
        nothing to claim."""
