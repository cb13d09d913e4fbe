"""The Celery executor's messages, read back from a real Redis queue."""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from echo_ai.execution.celery_app import QUEUE, configure
from echo_ai.execution.celery_executor import CeleryExecutor
from echo_ai.execution.runtime import Runtime
from echo_ai.observability import bound_context
from tests.factories import stored_batches, stored_experiment
from tests.servers import flushed_redis, redis_database_url

BROKER_DB = 10


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    with flushed_redis(BROKER_DB) as url:
        client = redis.Redis.from_url(url)
        try:
            yield client
        finally:
            client.close()


def _queued(broker: redis.Redis) -> list[tuple[str, int, dict[str, str]]]:
    """The queued chunk tasks in the order workers take them (LPUSH, BRPOP)."""
    messages = [json.loads(raw) for raw in reversed(broker.lrange(QUEUE, 0, -1))]
    found = []
    for message in messages:
        batch_run_id, chunk = ast.literal_eval(message["headers"]["argsrepr"])
        context = ast.literal_eval(message["headers"]["kwargsrepr"])["context"]
        found.append((batch_run_id, chunk, context))
    return found


async def test_chunks_alternate_between_providers_and_carry_the_log_context(
    runtime: Runtime, broker: redis.Redis
) -> None:
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=25, providers=["demo", "demo:a", "demo:b"]
    )
    stored = await stored_batches(runtime.session_factory, experiment_id)
    batches = {str(batch.id): batch.model for batch in stored}
    app = configure(
        runtime.settings.model_copy(update={"redis_url": redis_database_url(BROKER_DB)}),
        Celery("t"),
    )
    try:
        with bound_context(request_id="r-1", workspace_id="w-1"):
            await CeleryExecutor(app, runtime.session_factory).run_experiment(experiment_id)
    finally:
        app.close()

    queued = _queued(broker)
    assert [chunk for _, chunk, _ in queued] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for start in range(0, 9, 3):  # each round of chunks covers the three providers
        assert {batches[batch_id] for batch_id, _, _ in queued[start : start + 3]} == {
            "demo-synthetic-1",
            "a",
            "b",
        }
    assert {context["request_id"] for _, _, context in queued} == {"r-1"}
    assert {context["experiment_id"] for _, _, context in queued} == {str(experiment_id)}
    assert uuid.UUID(queued[0][0]) in {batch.id for batch in stored}


async def test_an_adaptive_batch_sends_only_the_round_it_starts_or_resumes_at(
    runtime: Runtime, broker: redis.Redis
) -> None:
    """Its other rounds are sent one by one, each by the chunk before it, once it has
    looked (tests/execution/test_tasks.py)."""
    adaptive = await stored_experiment(
        runtime.session_factory,
        iterations=300,
        precision={"metric": "visibility", "half_width": 0.05},
        demo_probabilities={"HubSpot": 0.5},
    )
    fixed = await stored_experiment(runtime.session_factory, iterations=25)
    (rounds,) = await stored_batches(runtime.session_factory, adaptive)
    (chunks,) = await stored_batches(runtime.session_factory, fixed)
    app = configure(
        runtime.settings.model_copy(update={"redis_url": redis_database_url(BROKER_DB)}),
        Celery("t"),
    )
    executor = CeleryExecutor(app, runtime.session_factory)
    try:
        await executor.run_batches([rounds, chunks])
        assert [(batch, chunk) for batch, chunk, _ in _queued(broker)] == [
            (str(rounds.id), 0),
            (str(chunks.id), 0),
            (str(chunks.id), 1),
            (str(chunks.id), 2),
        ]
        broker.delete(QUEUE)
        for chunk in (0, 1, 2):  # three rounds ran before a crash
            await runtime.runner.run_chunk(rounds.id, chunk)
        (resumed,) = await stored_batches(runtime.session_factory, adaptive)
        await executor.run_batches([resumed])
    finally:
        app.close()
    assert [(batch, chunk) for batch, chunk, _ in _queued(broker)] == [(str(rounds.id), 3)]
