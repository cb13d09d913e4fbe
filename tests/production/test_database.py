"""PostgreSQL connections terminated mid-run (``pg_terminate_backend``) are recovered."""

from __future__ import annotations

import asyncio

import pytest

from echo_ai.testing.fake_llm import FakeLLMServer
from tests.production.conftest import Cluster, Database, batch_of, open_client, wait_for

pytestmark = pytest.mark.long


ITERATIONS = 240


async def test_a_batch_survives_its_database_connections_being_terminated(
    cluster: Cluster, database: Database, broker_url: str, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.latency_ms = 50
    cluster.worker(concurrency=2, ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER="2")
    async with open_client(database.url, broker_url) as client:
        experiment_id = await client.create(iterations=ITERATIONS, chunk_size=20)
    batch_id = await batch_of(database, experiment_id)

    async def some_stored() -> bool:
        cluster.check_alive()
        return await database.stored(batch_id) >= 20

    await wait_for(some_stored, within=45, what="the first iterations", every=0.02)
    # Cut every connection of the workers, five times while the batch runs: the pool
    # (pre-ping) reconnects; a chunk whose transaction broke is retried by Celery, and
    # the retry runs only the iterations not stored yet.
    terminated = 0
    for _ in range(5):
        if await database.finished(batch_id):
            break
        terminated += await database.terminate_backends()
        await asyncio.sleep(0.3)
    assert terminated > 0, "no worker connection was terminated"

    async def finished() -> bool:
        cluster.check_alive()
        return await database.finished(batch_id)

    await wait_for(finished, within=60, what="the batch to finish")

    batch = await database.batch(batch_id)
    assert batch["status"] == "completed", batch["error"]
    assert (batch["succeeded"], batch["failed"]) == (ITERATIONS, 0)
    assert await database.iteration_counts(batch_id) == (ITERATIONS, ITERATIONS)
