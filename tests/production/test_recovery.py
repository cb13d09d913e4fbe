"""Recovery in production mode, with real Redis, PostgreSQL and worker processes: the
stalled-batch sweep knows what waits in the broker (a deep queue is not sent again, the
chunk of a worker killed mid-way is, once), and a resume waits for the process that runs
a batch (its lease) instead of paying for its calls a second time."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import redis

from echo_ai.db import transaction, utcnow
from echo_ai.execution.broker import queued_key
from echo_ai.execution.celery_app import QUEUE
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.runs.leases import BatchBusy
from echo_ai.schedules.scheduler import Scheduler
from echo_ai.testing.fake_llm import FakeLLMServer
from tests import servers
from tests.production.conftest import (
    LEASE_SECONDS,
    PROVIDER,
    Client,
    Cluster,
    Database,
    batch_of,
    open_client,
    queue_length,
    wait_for,
)

pytestmark = pytest.mark.long


REDIS_DB = servers.per_test_process((8, 9))
STALLED_AFTER = timedelta(seconds=10)


@pytest.fixture
def broker(scratch_database: str) -> Iterator[str]:
    with servers.flushed_redis(REDIS_DB) as url:
        yield url


@pytest.fixture
def vendor_keys(fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process (the API's side) may resume and run batches on the fake LLM too."""
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")


def _scheduler(client: Client) -> Scheduler:
    """`echo-ai beat`'s scheduler, driven by the test (its clock is the ``now`` given to
    each tick)."""
    runtime = client.runtime
    assert runtime.queued is not None
    return Scheduler(
        session_factory=runtime.session_factory,
        executor=client.executor,
        settings=runtime.settings,
        stalled_after=STALLED_AFTER,
        leases=runtime.runner.leases,
        waiting=runtime.queued.waiting,
    )


def _marks(url: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(queued_key("*")))
    finally:
        client.close()


async def _finishes(cluster: Cluster, database: Database, batch_id: uuid.UUID, n: int) -> None:
    async def finished() -> bool:
        cluster.check_alive()
        return await database.finished(batch_id)

    await wait_for(finished, within=60, what="the batch to finish")
    batch = await database.batch(batch_id)
    assert batch["status"] == "completed", batch["error"]
    assert (batch["stored"], batch["succeeded"], batch["failed"]) == (n, n, 0)
    assert await database.iteration_counts(batch_id) == (n, n)


async def _resume(client: Client, experiment_id: uuid.UUID, **options: object) -> int:
    async with transaction(client.runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        return await experiment_service.resume(
            session, experiment, actor=Actor.cli(), runtime=client.runtime, **options
        )


@pytest.mark.usefixtures("vendor_keys")
async def test_a_batch_waiting_in_a_deep_queue_is_not_sent_again(
    make_cluster: Callable[..., Cluster],
    database: Database,
    broker: str,
    fake_llm: FakeLLMServer,
) -> None:
    async with open_client(database.url, broker) as client:
        # No worker consumes: the three chunks wait, far longer than stalled_after.
        experiment_id = await client.create(iterations=60, chunk_size=20)
        batch_id = await batch_of(database, experiment_id)
        assert queue_length(broker) == 3
        scheduler = _scheduler(client)
        later = utcnow() + timedelta(hours=1)

        assert (await scheduler.tick(now=later)).recovered == []
        assert queue_length(broker) == 3
        with pytest.raises(BatchBusy, match="has chunks waiting in the queue for a worker"):
            await _resume(client, experiment_id)

        # The same batch once its messages are gone (a queue lost, its marks left
        # behind): nothing waits any more, so it is stalled and sent again.
        lost = redis.Redis.from_url(broker)
        try:
            lost.delete(QUEUE)
        finally:
            lost.close()
        assert (await scheduler.tick(now=later + timedelta(hours=1))).recovered == [batch_id]
        assert queue_length(broker) == 3

    cluster = make_cluster(broker)
    cluster.worker(concurrency=2)
    await _finishes(cluster, database, batch_id, 60)
    assert fake_llm.request_count == 60  # no call was paid twice
    assert _marks(broker) == []  # every chunk taken off when its worker claimed it


async def test_a_worker_killed_mid_chunk_has_its_batch_sent_again_once(
    make_cluster: Callable[..., Cluster],
    database: Database,
    broker: str,
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.config.latency_ms = 50
    cluster = make_cluster(broker)
    worker = cluster.worker(concurrency=1, ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER="2")
    async with open_client(database.url, broker) as client:
        experiment_id = await client.create(iterations=40, chunk_size=40)  # one chunk
        batch_id = await batch_of(database, experiment_id)

        async def some_stored() -> bool:
            cluster.check_alive()
            return await database.stored(batch_id) >= 5

        await wait_for(some_stored, within=45, what="the first iterations", every=0.02)
        held = await database.batch(batch_id)
        assert str(held["lease_owner"]).startswith(f"{socket.gethostname()}:")
        cluster.kill(worker)  # kill -9, mid-chunk: nothing queued, its lease not renewed
        assert not await database.finished(batch_id)
        assert queue_length(broker) == 0 and _marks(broker) == []

        scheduler = _scheduler(client)
        now = utcnow()
        assert (await scheduler.tick(now=now)).recovered == []  # its lease still counts
        later = now + STALLED_AFTER + timedelta(seconds=LEASE_SECONDS)
        assert (await scheduler.tick(now=later)).recovered == [batch_id]
        assert queue_length(broker) == 1
        assert (await database.batch(batch_id))["lease_owner"] is None
        # Once: the next ticks find it waiting in the queue (and fresh).
        assert (await scheduler.tick(now=later + timedelta(seconds=1))).recovered == []
        assert (await scheduler.tick(now=later + timedelta(hours=1))).recovered == []
        assert queue_length(broker) == 1

    cluster.worker(concurrency=2)
    await _finishes(cluster, database, batch_id, 40)


@pytest.mark.usefixtures("vendor_keys")
async def test_resume_waits_for_the_process_that_runs_the_batch(
    make_cluster: Callable[..., Cluster],
    database: Database,
    broker: str,
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.config.latency_ms = 100
    cluster = make_cluster(broker)
    prompt = f"Which CRM? ({uuid.uuid4()})"
    # Another process runs the experiment in-process, on the same PostgreSQL database.
    holder = cluster.start(
        "run",
        "--prompt",
        prompt,
        "--brand",
        "HubSpot",
        "--competitor",
        "Salesforce",
        "--provider",
        PROVIDER,
        "--iterations",
        "60",
        ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER="2",
    )
    row = None

    async def running() -> bool:
        nonlocal row
        cluster.check_alive()
        rows = await database.fetch(
            "SELECT b.id, b.stored FROM batch_runs b JOIN experiments e "
            "ON e.id = b.experiment_id WHERE e.prompt = $1",
            prompt,
        )
        row = rows[0] if rows else None
        return row is not None and row["stored"] >= 6

    await wait_for(running, within=60, what="the other process's first answers", every=0.05)
    fake_llm.config.latency_ms = 1000  # the holder goes on for a while yet
    assert row is not None
    batch_id = uuid.UUID(str(row["id"]))
    experiment_id = uuid.UUID(
        str(
            (
                await database.fetchrow(
                    "SELECT experiment_id FROM batch_runs WHERE id = $1", batch_id
                )
            )["experiment_id"]
        )
    )
    owner = f"{socket.gethostname()}:{holder.pid}:"

    async with open_client(database.url, broker) as client:
        with pytest.raises(BatchBusy, match=f"is being run by worker {owner}"):
            await _resume(client, experiment_id)

        # The command line says the same and exits with a usage error.
        refused = cluster.start("experiments", "resume", str(experiment_id))
        assert refused.wait(timeout=120) == 2
        output = cluster.tail(cluster.processes[-1][2])
        assert f"is being run by worker {owner}" in output and "Traceback" not in output

        cluster.kill(holder)  # gone, but its lease has not lapsed yet: still refused
        stored_at_kill = await database.stored(batch_id)
        assert stored_at_kill < 60, "the run ended before the kill: slow it down"
        with pytest.raises(BatchBusy, match="if that worker is gone"):
            await _resume(client, experiment_id)

        # Once the lease has lapsed, the resume runs the missing iterations here.
        fake_llm.config.latency_ms = 0
        last_seen = (await database.batch(batch_id))["heartbeat_at"]
        lapsed = last_seen + timedelta(seconds=LEASE_SECONDS, milliseconds=1)
        assert await _resume(client, experiment_id, now=lapsed) == 1

    batch = await database.batch(batch_id)
    assert batch["status"] == "completed", batch["error"]
    assert (batch["stored"], batch["succeeded"], batch["lease_owner"]) == (60, 60, None)
    assert await database.iteration_counts(batch_id) == (60, 60)
    # Every answer paid for once, but the two calls in flight when the holder died.
    assert 60 <= fake_llm.request_count <= 60 + 2
