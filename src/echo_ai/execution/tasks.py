"""Celery tasks: one chunk of a batch per task, run by the same runner as in-process;
and the sending of queued mail (:func:`deliver_mail_task`). The export task is
:mod:`echo_ai.accounts.tasks`.

Each worker process keeps one event loop and one runtime (database pool, provider
clients, limits) for its lifetime, opened on its first task. A chunk is idempotent:
running it again (a re-delivery, a retry) runs only the iterations not yet stored.

Failure handling, so no work is ever silently lost:

- a chunk that raises (the database went away, a bug) or overruns its soft time limit is
  retried with exponential back-off up to ``worker.max_retries`` times; then its batch
  is marked failed with the reason;
- a chunk whose worker died (``kill -9``, out of memory) is delivered again by the broker;
  one that keeps killing its worker is given up after ``worker.max_deliveries``
  deliveries and its batch marked failed;
- a batch whose chunks were all lost (a broker that lost its queue) is dispatched again
  by the scheduler once it has been silent for ``worker.stalled_after_seconds``.

A chunk is marked as waiting in the broker until its claim of the batch has committed
(:mod:`echo_ai.execution.broker`), and marked again before a retry is sent; from its claim
on, the worker holds the batch's lease (:mod:`echo_ai.runs.leases`) and renews it while
the chunk runs. So the scheduler re-dispatches neither a batch that merely waits in a
deep queue nor one a worker is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import redis
from celery import Celery, Task
from celery.signals import worker_process_shutdown, worker_shutdown

from echo_ai.config import Settings, get_settings
from echo_ai.execution.background import CeleryJobs
from echo_ai.execution.broker import QueuedChunks
from echo_ai.execution.celery_app import DELIVER_MAIL, RUN_CHUNK, celery_app
from echo_ai.execution.celery_executor import send_chunks
from echo_ai.execution.runner import ChunkEnd, failure_of
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.failures import Failure, FailureCode
from echo_ai.mail.delivery import deliver_due
from echo_ai.observability import bound_context

log = logging.getLogger(__name__)

T = TypeVar("T")

DELIVERY_KEY_TTL_SECONDS = 7 * 24 * 3600
MAX_BACKOFF_SECONDS = 300


class WorkerRuntime:
    """What one worker process keeps between tasks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._stack = AsyncExitStack()
        try:
            self.runtime: Runtime = self.loop.run_until_complete(
                self._stack.enter_async_context(open_runtime(settings, executor="local"))
            )
        except BaseException:
            self.loop.close()  # the next task tries again with a new one
            raise
        assert settings.redis_url is not None
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.queued = QueuedChunks(
            self.redis, mark_seconds=settings.worker.visibility_timeout_seconds
        )
        self.app: Celery = celery_app
        """The app that sends an adaptive batch's next chunk (this worker's)."""
        # A finalised batch's run is evaluated for alerts by a background task.
        self.runtime.runner.on_finalized = CeleryJobs(celery_app).evaluate_alerts

    def run(self, job: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(job)

    @contextlib.contextmanager
    def delivery(self, batch_run_id: str, chunk: int, attempt: int) -> Iterator[int]:
        """Count this delivery of (chunk, attempt) while it runs: a count above one means
        a worker died running it (the key is deleted whenever the task itself ends, so
        a chunk merely sent again, e.g. by the stalled-batch recovery, starts at one)."""
        key = f"echo-ai:deliveries:{batch_run_id}:{chunk}:{attempt}"
        count = int(self.redis.incr(key))
        self.redis.expire(key, DELIVERY_KEY_TTL_SECONDS)
        try:
            yield count
        finally:
            self.redis.delete(key)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self._stack.aclose())
        self.loop.close()
        self.redis.close()


_worker: WorkerRuntime | None = None


def worker_runtime() -> WorkerRuntime:
    global _worker
    if _worker is None:
        _worker = WorkerRuntime(get_settings())
    return _worker


def _close_worker_runtime(**_: object) -> None:
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None


worker_process_shutdown.connect(_close_worker_runtime, weak=False)
worker_shutdown.connect(_close_worker_runtime, weak=False)


def backoff_seconds(retries: int) -> float:
    """5 s, 10 s, 20 s... capped, with jitter so retried chunks do not stampede."""
    base: float = min(MAX_BACKOFF_SECONDS, 5 * 2**retries)
    return base * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


async def _fail_batch(runtime: Runtime, batch_run_id: uuid.UUID, failure: Failure) -> None:
    await runtime.runner.fail_batch(batch_run_id, failure)


async def _run_chunk(
    worker: WorkerRuntime, batch_run_id: uuid.UUID, chunk: int, soft: float
) -> ChunkEnd:
    runtime = worker.runtime

    async def claimed() -> None:  # the lease says it runs now: no longer waiting
        try:
            await asyncio.to_thread(worker.queued.unmark, batch_run_id, chunk)
        except redis.RedisError:
            # The chunk holds its batch now: a Redis blip must not fail it. The mark left
            # behind is tried again when the task ends, and counts only for a while.
            log.warning("could not take chunk %s off the waiting marks", chunk, exc_info=True)

    try:
        async with asyncio.timeout(soft):
            return await runtime.runner.run_chunk(batch_run_id, chunk, on_claimed=claimed)
    finally:
        runtime.runner.forget(batch_run_id)


def _send_next(
    worker: WorkerRuntime, batch_run_id: str, chunk: int, context: dict[str, str]
) -> None:
    """An adaptive batch's next round, sent by the chunk that looked. Should the broker be
    away, the batch falls silent and the scheduler dispatches it again (from this chunk)
    once it counts as stalled."""
    try:
        send_chunks(worker.app, worker.queued, [(batch_run_id, chunk, context)])
    except Exception:
        log.exception("could not send chunk %s; the scheduler will dispatch it again", chunk)


def run_chunk_task(
    self: Task[Any, Any], batch_run_id: str, chunk: int, context: dict[str, str] | None = None
) -> None:
    """Run one chunk of a batch (see the module's notes on failures)."""
    settings = (_worker.settings if _worker is not None else get_settings()).worker
    attempt = int(self.request.retries or 0)
    batch_id = uuid.UUID(batch_run_id)
    with bound_context(**{**(context or {}), "batch_run_id": batch_run_id, "chunk": chunk}):
        worker: WorkerRuntime | None = None
        requeued = False
        try:
            worker = worker_runtime()  # may fail: the database or Redis is away
            with worker.delivery(batch_run_id, chunk, attempt) as deliveries:
                if deliveries > settings.max_deliveries:
                    log.error(
                        "giving up: chunk %s was delivered %d times and its worker stopped "
                        "each time (killed or out of memory)",
                        chunk,
                        deliveries - 1,
                    )
                    lost = Failure.of(FailureCode.WORKER_LOST)
                    worker.run(_fail_batch(worker.runtime, batch_id, lost))
                    return
                end = worker.run(
                    _run_chunk(worker, batch_id, chunk, settings.chunk_soft_time_limit_seconds)
                )
            if end.next_chunk is not None:
                _send_next(worker, batch_run_id, end.next_chunk, context or {})
        except Exception as error:
            failure = failure_of(error)
            if isinstance(error, TimeoutError):
                failure = Failure.of(FailureCode.TIMED_OUT)
            if attempt < settings.max_retries:
                countdown = backoff_seconds(attempt)
                log.warning(
                    "chunk %s failed (%s: %s); retry in %.0f s",
                    chunk,
                    failure.code,
                    type(error).__name__,
                    countdown,
                    exc_info=error,
                )
                if worker is not None:  # waiting again, for its retry
                    requeued = True
                    with contextlib.suppress(redis.RedisError):
                        worker.queued.mark([(batch_run_id, chunk)])
                raise self.retry(
                    exc=error, countdown=countdown, max_retries=settings.max_retries
                ) from error
            log.error(
                "chunk %s failed %d times, batch failed (%s)",
                chunk,
                attempt + 1,
                failure.code,
                exc_info=error,
            )
            if worker is None:
                raise  # nothing to record it with: the scheduler's stalled recovery will
            worker.run(_fail_batch(worker.runtime, batch_id, failure))
        finally:
            if worker is not None and not requeued:  # ended before its claim, or given up
                with contextlib.suppress(redis.RedisError):
                    worker.queued.unmark(batch_run_id, chunk)


run_chunk = celery_app.task(bind=True, name=RUN_CHUNK)(run_chunk_task)


def deliver_mail_task() -> None:
    """Send the queued mails that are due (:func:`echo_ai.mail.delivery.deliver_due`), sent
    by the API after a commit that queued mail. Idempotent: each mail is claimed by
    compare-and-set before it is sent, so a re-delivery, or a scheduler tick at the same
    time, sends none twice. A failure (the database is away) is logged, not retried: the
    mail stays queued and the scheduler's next tick sends it."""
    worker = worker_runtime()
    delivered = worker.run(deliver_due(worker.runtime.session_factory, worker.settings))
    if delivered.sent or delivered.retrying or delivered.failed:
        log.info(
            "mail: %d sent, %d to retry, %d given up",
            len(delivered.sent),
            len(delivered.retrying),
            len(delivered.failed),
        )


deliver_mail = celery_app.task(name=DELIVER_MAIL)(deliver_mail_task)
