"""Two `echo-ai beat` processes at once: each due run of a schedule is dispatched once."""

from __future__ import annotations

import asyncio

import pytest

from echo_ai.runs.models import BatchStatus
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.production.conftest import Cluster, Database, batch_of, open_client, past, wait_for

pytestmark = pytest.mark.long


async def test_two_beats_dispatch_a_due_run_once(
    cluster: Cluster, database: Database, broker_url: str, fake_llm: FakeLLMServer
) -> None:
    cluster.worker(concurrency=2)
    async with open_client(database.url, broker_url) as client:
        experiment_id = await client.create(
            iterations=40, chunk_size=10, schedule={"cron": "0 * * * *"}
        )
    first = await batch_of(database, experiment_id, 1)

    async def first_done() -> bool:
        cluster.check_alive()
        return await database.finished(first)

    await wait_for(first_done, within=45, what="the first run")

    async with database.connect() as connection:
        await connection.execute(
            "UPDATE experiments SET next_run_at = $2 WHERE id = $1", experiment_id, past()
        )
    beats = [cluster.beat(ECHO_AI_RUNNER__CHUNK_SIZE="10") for _ in range(2)]

    async def second_done() -> bool:
        cluster.check_alive()
        rows = await database.fetch(
            'SELECT status FROM batch_runs WHERE experiment_id = $1 AND "round" = 2',
            experiment_id,
        )
        return bool(rows) and all(row["status"] == BatchStatus.COMPLETED for row in rows)

    await wait_for(second_done, within=45, what="the scheduled run")
    # Both beats tick several more times (0.5 s apart): nothing more may start.
    await asyncio.sleep(2.5)
    assert all(beat.poll() is None for beat in beats)

    experiment = await database.fetchrow(
        "SELECT runs, status, next_run_at FROM experiments WHERE id = $1", experiment_id
    )
    assert experiment["runs"] == 2
    assert experiment["status"] == "completed"
    assert experiment["next_run_at"] > past(0)
    rounds = await database.fetch(
        'SELECT "round", count(*) AS batches FROM batch_runs WHERE experiment_id = $1 '
        'GROUP BY "round" ORDER BY "round"',
        experiment_id,
    )
    assert [(row["round"], row["batches"]) for row in rounds] == [(1, 1), (2, 1)]
    second = await batch_of(database, experiment_id, 2)
    assert await database.iteration_counts(second) == (40, 40)

    # Each iteration of the two runs was asked once: no chunk was dispatched twice.
    assert fake_llm.request_count == 80
    assert (await database.batch(second))["chunk_size"] == 10
