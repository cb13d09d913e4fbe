"""The chunk task's own rules, run in this process (``Task.apply``) against real Redis:
a chunk that keeps failing fails its batch with the reason, one whose worker keeps dying
is given up, and a normal run leaves no delivery counter behind."""

from __future__ import annotations

import ast
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select, update

from echo_ai.config import Settings, get_settings
from echo_ai.db import transaction
from echo_ai.execution import tasks
from echo_ai.execution.broker import QueuedChunks, queued_key
from echo_ai.execution.celery_app import QUEUE, configure
from echo_ai.experiments import service as experiment_service
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment
from tests.factories import experiment_input
from tests.kit import ManualClock
from tests.servers import flushed_redis, per_test_process, redis_database_url

REDIS_DB = per_test_process((8, 9))
"""Per test process, like the other modules on 8 and 9: tests of this module running at
once (pytest-xdist) must not see each other's delivery counters and marks."""


@pytest.fixture
def worker(settings: Settings) -> Iterator[tasks.WorkerRuntime]:
    with flushed_redis(REDIS_DB) as url:
        settings.redis_url = url
        settings.worker.max_retries = 0
        runtime = tasks.WorkerRuntime(settings)
        tasks._worker = runtime  # this process plays the worker, with the test's settings
        try:
            yield runtime
        finally:
            tasks._close_worker_runtime()


def _batch(worker: tasks.WorkerRuntime, *, broken: bool = False) -> uuid.UUID:
    async def create() -> uuid.UUID:
        async with transaction(worker.runtime.session_factory) as session:
            experiment = await experiment_service.create(
                session, experiment_input(iterations=6), chunk_size=3
            )
            if broken:  # a stored location no runner can read: every chunk raises
                await session.execute(
                    update(Experiment)
                    .where(Experiment.id == experiment.id)
                    .values(user_location={"planet": "Mars"})
                )
            batch_id = await session.scalar(
                select(BatchRun.id).where(BatchRun.experiment_id == experiment.id)
            )
        assert batch_id is not None
        return batch_id

    return worker.run(create())


def _state(worker: tasks.WorkerRuntime, batch_id: uuid.UUID) -> tuple[BatchStatus, str | None]:
    """The batch's status and error code."""

    async def load() -> tuple[BatchStatus, str | None]:
        async with transaction(worker.runtime.session_factory) as session:
            batch = await session.get(BatchRun, batch_id)
            assert batch is not None
            return batch.status, batch.error_code

    return worker.run(load())


def test_chunks_run_and_leave_no_delivery_counter(worker: tasks.WorkerRuntime) -> None:
    batch_id = _batch(worker)
    for chunk in (0, 1):
        tasks.run_chunk.apply(args=[str(batch_id), chunk]).get()
    assert _state(worker, batch_id) == (BatchStatus.COMPLETED, None)
    assert list(worker.redis.scan_iter("echo-ai:deliveries:*")) == []


def test_an_adaptive_chunk_sends_the_next_round_until_its_precision_is_reached(
    worker: tasks.WorkerRuntime,
) -> None:
    async def create() -> uuid.UUID:
        async with transaction(worker.runtime.session_factory) as session:
            experiment = await experiment_service.create(
                session,
                experiment_input(
                    iterations=500,
                    precision={"metric": "visibility", "half_width": 0.05},
                    demo_probabilities={"HubSpot": 0.0},  # ±5 points at 40 answers
                ),
                chunk_size=3,
            )
            batch_id = await session.scalar(
                select(BatchRun.id).where(BatchRun.experiment_id == experiment.id)
            )
        assert batch_id is not None
        return batch_id

    batch_id = worker.run(create())
    worker.app = configure(worker.settings, Celery("t"))
    try:
        sent: list[int] = []
        chunk = 0
        while True:
            worker.redis.delete(QUEUE)
            tasks.run_chunk.apply(args=[str(batch_id), chunk]).get()
            queued = [json.loads(raw) for raw in worker.redis.lrange(QUEUE, 0, -1)]
            if not queued:
                break
            (message,) = queued
            batch, chunk = ast.literal_eval(message["headers"]["argsrepr"])
            assert batch == str(batch_id)
            assert worker.queued.waiting_now([batch_id]) == {batch_id}  # marked as sent
            sent.append(chunk)
    finally:
        worker.app.close()
    assert sent == [1, 2, 3]  # rounds of 10: the look after 40 answers stops it
    assert _state(worker, batch_id) == (BatchStatus.COMPLETED, None)


def test_a_chunk_is_no_longer_waiting_once_claimed_or_given_up(
    worker: tasks.WorkerRuntime,
) -> None:
    batch_id = _batch(worker)
    worker.queued.mark([(str(batch_id), 0), (str(batch_id), 1)])  # as the executor sends them
    worker.redis.lpush(QUEUE, "a message")  # the broker is not empty: the marks count
    tasks.run_chunk.apply(args=[str(batch_id), 0]).get()
    assert worker.queued.waiting_now([batch_id]) == {batch_id}  # chunk 1 still waits
    assert worker.redis.zrange(queued_key(batch_id), 0, -1) == [b"1"]
    worker.settings.worker.max_retries = 1
    broken = _batch(worker, broken=True)
    worker.queued.mark([(str(broken), 0)])
    tasks.run_chunk.apply(args=[str(broken), 0]).get()  # retried (marked again), given up
    assert worker.queued.waiting_now([broken]) == set()
    assert _state(worker, broken)[0] == BatchStatus.FAILED


def test_a_mark_counts_only_for_the_visibility_timeout(worker: tasks.WorkerRuntime) -> None:
    """A mark whose message never reached the broker (its sender killed after marking, a
    retry whose send failed) must not keep its batch from counting as stalled: by the
    visibility timeout, a message delivered and not acknowledged is delivered again."""
    clock = ManualClock(now=time.time())
    worker.queued.clock = clock
    timeout = worker.settings.worker.visibility_timeout_seconds
    assert worker.queued.mark_seconds == timeout
    batch_id = uuid.uuid4()
    worker.queued.mark([(str(batch_id), 0)])
    worker.redis.lpush(QUEUE, "another batch's message")  # the broker is not empty
    assert worker.queued.waiting_now([batch_id]) == {batch_id}
    assert 0 < worker.redis.ttl(queued_key(batch_id)) <= timeout

    clock.advance(timeout + 1)
    assert worker.queued.waiting_now([batch_id]) == set()  # stale: ignored
    worker.queued.mark([(str(batch_id), 1)])  # sent again now (a retry, a re-dispatch)
    assert worker.queued.waiting_now([batch_id]) == {batch_id}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_redis_error_once_the_chunk_holds_its_batch_does_not_fail_it(
    worker: tasks.WorkerRuntime,
) -> None:
    batch_id = _batch(worker)
    # The marks' Redis is unreachable from now on (the delivery counters' still works).
    # Each command fails at once: redis-py's default of 10 retries with backoff spent
    # 3.5 s of waiting on every one, only for the same ConnectionError in the end.
    unreachable = redis.Redis(
        host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    worker.queued = QueuedChunks(unreachable)
    try:
        for chunk in (0, 1):
            tasks.run_chunk.apply(args=[str(batch_id), chunk]).get()
    finally:
        unreachable.close()
    assert _state(worker, batch_id) == (BatchStatus.COMPLETED, None)


def test_a_chunk_that_keeps_failing_fails_its_batch_with_the_reason(
    worker: tasks.WorkerRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    batch_id = _batch(worker, broken=True)
    tasks.run_chunk.apply(args=[str(batch_id), 0]).get()
    assert _state(worker, batch_id) == (BatchStatus.FAILED, "internal_error")
    # The exception is in the log, not in what users see.
    assert any(
        record.exc_info and isinstance(record.exc_info[1], TypeError) for record in caplog.records
    )


def test_a_failing_chunk_is_retried_before_the_batch_fails(
    worker: tasks.WorkerRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    worker.settings.worker.max_retries = 1
    batch_id = _batch(worker, broken=True)
    # Run eagerly, the retry runs at once (a broker would deliver it after the back-off).
    tasks.run_chunk.apply(args=[str(batch_id), 0]).get()
    assert _state(worker, batch_id) == (BatchStatus.FAILED, "internal_error")
    retries = [r for r in caplog.records if "retry in" in r.getMessage()]
    gave_up = [r for r in caplog.records if "failed 2 times" in r.getMessage()]
    assert len(retries) == 1 and len(gave_up) == 1


def test_a_chunk_whose_worker_keeps_dying_is_given_up(worker: tasks.WorkerRuntime) -> None:
    batch_id = _batch(worker)
    cap = worker.settings.worker.max_deliveries
    # As if `cap` workers had died running it: their counts were never taken back.
    worker.redis.set(f"echo-ai:deliveries:{batch_id}:0:0", cap)
    tasks.run_chunk.apply(args=[str(batch_id), 0]).get()
    assert _state(worker, batch_id) == (BatchStatus.FAILED, "worker_lost")


def test_backoff_grows_and_is_capped() -> None:
    assert all(2.5 <= tasks.backoff_seconds(0) <= 5 for _ in range(20))
    assert all(20 <= tasks.backoff_seconds(3) <= 40 for _ in range(20))
    assert tasks.backoff_seconds(30) <= tasks.MAX_BACKOFF_SECONDS


def test_a_worker_that_cannot_reach_its_database_retries_the_chunk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setenv("REDIS_URL", redis_database_url(REDIS_DB))
    monkeypatch.setenv("ECHO_AI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ECHO_AI_WORKER__MAX_RETRIES", "1")
    get_settings.cache_clear()
    try:
        result = tasks.run_chunk.apply(args=[str(uuid.uuid4()), 0])
    finally:
        get_settings.cache_clear()
    # Retried once (eagerly here), then given up: the error is the task's outcome, and
    # the scheduler's stalled-batch recovery dispatches the batch again later.
    assert result.failed() and isinstance(result.result, OSError)
    assert tasks._worker is None
