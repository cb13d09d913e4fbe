"""Redis restarting does not lose a queued batch: with an append-only file the queue
survives; without persistence the scheduler dispatches the lost batch again."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.production.conftest import (
    Cluster,
    Database,
    RedisServer,
    batch_of,
    open_client,
    queue_length,
    wait_for,
)

pytestmark = pytest.mark.long


async def _finishes(
    cluster: Cluster, database: Database, batch_id: uuid.UUID, within: float
) -> None:
    async def finished() -> bool:
        cluster.check_alive()
        return await database.finished(batch_id)

    await wait_for(finished, within=within, what="the batch to finish")
    batch = await database.batch(batch_id)
    assert batch["status"] == "completed", batch["error"]
    assert await database.iteration_counts(batch_id) == (60, 60)


async def test_a_queued_batch_survives_a_redis_restart(
    own_redis: Callable[..., RedisServer],
    make_cluster: Callable[..., Cluster],
    database: Database,
) -> None:
    server = own_redis(persistent=True)  # appendonly yes, appendfsync always
    async with open_client(database.url, server.url) as client:
        experiment_id = await client.create(iterations=60, chunk_size=20)  # no worker yet
    batch_id = await batch_of(database, experiment_id)
    assert queue_length(server.url) == 3

    server.restart()
    assert queue_length(server.url) == 3  # the append-only file kept the queue

    cluster = make_cluster(server.url)
    cluster.worker(concurrency=2)
    await _finishes(cluster, database, batch_id, within=45)
    assert queue_length(server.url) == 0


async def test_a_batch_lost_with_a_non_persistent_redis_is_dispatched_again(
    own_redis: Callable[..., RedisServer],
    make_cluster: Callable[..., Cluster],
    database: Database,
) -> None:
    server = own_redis(persistent=False)
    async with open_client(database.url, server.url) as client:
        experiment_id = await client.create(iterations=60, chunk_size=20)
    batch_id = await batch_of(database, experiment_id)
    assert queue_length(server.url) == 3

    server.restart()
    assert queue_length(server.url) == 0  # the queue is gone

    # The batch is still queued in the database; once silent for stalled_after_seconds
    # (10 s here) the beat sends its chunks again.
    cluster = make_cluster(server.url)
    cluster.worker(concurrency=2)
    cluster.beat()
    await _finishes(cluster, database, batch_id, within=45)
