"""Real Celery workers: an experiment runs end to end through them, and a worker killed
with ``kill -9`` mid-batch still leaves exactly N iterations, none duplicated."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from echo_ai.testing.fake_llm import FakeLLMServer
from tests.production.conftest import (
    Cluster,
    Database,
    batch_of,
    open_client,
    queue_length,
    wait_for,
)

pytestmark = pytest.mark.long


async def test_an_experiment_runs_end_to_end_through_workers(
    cluster: Cluster, database: Database, broker_url: str, fake_llm: FakeLLMServer
) -> None:
    cluster.worker(concurrency=2)
    async with open_client(database.url, broker_url) as client:
        experiment_id = await client.create(iterations=60, chunk_size=20)
    batch_id = await batch_of(database, experiment_id)

    async def finished() -> bool:
        cluster.check_alive()
        return await database.finished(batch_id)

    await wait_for(finished, within=45, what="the batch to finish")

    batch = await database.batch(batch_id)
    assert (batch["status"], batch["succeeded"], batch["failed"]) == ("completed", 60, 0)
    assert await database.iteration_counts(batch_id) == (60, 60)
    experiment = await database.fetchrow(
        "SELECT status FROM experiments WHERE id = $1", experiment_id
    )
    assert experiment["status"] == "completed"
    assert fake_llm.request_count == 60  # each iteration called the (fake) vendor once
    assert queue_length(broker_url) == 0

    # An adaptive experiment: the workers send its rounds of 10 to each other, one by one,
    # until the interval is narrow enough (well before 500 at the fake vendor's rate).
    async with open_client(database.url, broker_url) as client:
        adaptive_id = await client.create(
            iterations=500, chunk_size=20, precision={"metric": "visibility", "half_width": 0.05}
        )
    adaptive_batch = await batch_of(database, adaptive_id)

    async def adaptive_finished() -> bool:
        cluster.check_alive()
        return await database.finished(adaptive_batch)

    await wait_for(adaptive_finished, within=45, what="the adaptive batch to finish")
    batch = await database.batch(adaptive_batch)
    asked = batch["iterations_requested"]
    assert batch["status"] == "completed" and batch["stored"] == asked
    assert 30 <= asked < 500 and asked % 10 == 0
    assert len(json.loads(batch["looks"])) == asked // 10  # one look per round
    assert fake_llm.request_count == 60 + asked
    assert queue_length(broker_url) == 0


@pytest.mark.parametrize("iterations", [240])
async def test_a_worker_killed_mid_batch_still_ends_with_exactly_n_iterations(
    cluster: Cluster, database: Database, broker_url: str, fake_llm: FakeLLMServer, iterations: int
) -> None:
    # Slow enough to be mid-batch when killed: 12 chunks of 20, 2 calls at a time per
    # process, 50 ms each: about 0.5 s per chunk, 3 s for the batch on 2 processes.
    fake_llm.config.latency_ms = 50
    slow = {"ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER": "2"}
    first = cluster.worker(concurrency=2, **slow)
    async with open_client(database.url, broker_url) as client:
        experiment_id = await client.create(iterations=iterations, chunk_size=20)
    batch_id = await batch_of(database, experiment_id)

    async def some_stored() -> bool:
        cluster.check_alive()
        return await database.stored(batch_id) >= 30

    await wait_for(some_stored, within=45, what="the first iterations", every=0.02)
    cluster.kill(first)  # kill -9 of the worker and its pool processes, mid-chunk
    at_kill = await database.stored(batch_id)
    assert at_kill < iterations, "the batch ended before the kill: make it slower"
    assert not await database.finished(batch_id)

    # Recovery. The chunks the dead worker held stay unacknowledged in the broker; kombu
    # (5.7) hands them out again only once older than the visibility timeout, and then
    # only on a worker's start or its restore sweep (every 10 x 10 s by default), so
    # within this test they come back through the scheduler: `echo-ai beat` re-dispatches
    # a batch silent for `stalled_after_seconds` (10 s here), and only its missing
    # iterations run. The chunks still queued are taken by the new worker meanwhile.
    cluster.worker(concurrency=2, **slow)
    cluster.beat()

    async def finished() -> bool:
        cluster.check_alive()
        return await database.finished(batch_id)

    await wait_for(finished, within=60, what="the batch to finish after the kill")

    batch = await database.batch(batch_id)
    assert batch["status"] == "completed", batch["error"]
    assert (batch["succeeded"], batch["failed"]) == (iterations, 0)
    assert await database.iteration_counts(batch_id) == (iterations, iterations)
    indices = await database.fetch(
        'SELECT min("index") AS low, max("index") AS high FROM iterations WHERE batch_run_id = $1',
        batch_id,
    )
    assert (indices[0]["low"], indices[0]["high"]) == (0, iterations - 1)


def _pool_processes(pid: int) -> list[int]:
    """The worker's prefork pool processes (its children, from /proc)."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def test_a_pool_process_killed_mid_chunk_has_its_chunk_delivered_again(
    cluster: Cluster, database: Database, broker_url: str, fake_llm: FakeLLMServer
) -> None:
    """`kill -9` of the process running a chunk (not of the whole worker): the worker
    sees it lost (`task_reject_on_worker_lost`), the unacknowledged chunk (`acks_late`)
    goes back to the queue at once, and another process runs its missing iterations. No
    beat runs here: the broker alone brings the chunk back."""
    fake_llm.config.latency_ms = 50
    worker = cluster.worker(concurrency=2, ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER="2")
    async with open_client(database.url, broker_url) as client:
        experiment_id = await client.create(iterations=120, chunk_size=40)
    batch_id = await batch_of(database, experiment_id)

    async def some_stored() -> bool:
        cluster.check_alive()
        return await database.stored(batch_id) >= 10

    await wait_for(some_stored, within=45, what="the first iterations", every=0.02)
    children = _pool_processes(worker.pid)
    assert children, "the worker has no pool processes"
    for child in children:  # both pool processes are mid-chunk: kill them all
        os.kill(child, signal.SIGKILL)
    assert not await database.finished(batch_id)

    async def finished() -> bool:
        cluster.check_alive()
        return await database.finished(batch_id)

    await wait_for(finished, within=60, what="the batch to finish after the kill")
    batch = await database.batch(batch_id)
    assert batch["status"] == "completed", batch["error"]
    assert await database.iteration_counts(batch_id) == (120, 120)
