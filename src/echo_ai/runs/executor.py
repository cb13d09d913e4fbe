"""The in-process executor of the embedded default: every chunk of a batch as an asyncio task.

The distributed executor (Celery) hands the same chunks to workers instead; the runner,
storage and finalisation are the same.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from echo_ai.db import transaction
from echo_ai.runs import service
from echo_ai.runs.models import BatchRun
from echo_ai.runs.runner import Runner

log = logging.getLogger(__name__)


def _first_cause(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"


class LocalExecutor:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def run_batch(self, batch: BatchRun) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for chunk in range(batch.chunk_count):
                    group.create_task(self.runner.run_chunk(batch.id, chunk))
        except Exception as error:
            # A bug or an unreachable database must not leave the batch "running" for
            # ever; the task group has already stopped the batch's other chunks.
            log.exception("batch %s crashed", batch.id)
            async with transaction(self.runner.session_factory) as session:
                await service.fail(session, batch.id, f"internal error: {_first_cause(error)}")
        finally:
            self.runner.forget(batch.id)

    async def run_experiment(self, experiment_id: uuid.UUID) -> None:
        async with transaction(self.runner.session_factory) as session:
            batches = await service.runnable_batches(session, experiment_id)
        await asyncio.gather(*(self.run_batch(batch) for batch in batches))
