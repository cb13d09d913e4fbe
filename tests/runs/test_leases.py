"""Batch leases on a real database: a resume waits for the process that runs a batch, a
second process never runs it too, the holder renews its lease while a call is slow, and
a process starting up takes over exactly the batches nobody runs."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.base import Completion, CompletionRequest, ServerError
from echo_ai.providers.retry import RetryPolicy
from echo_ai.runs import leases
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus, Iteration
from tests.factories import stored_batches, stored_experiment
from tests.kit import wait_until

pytestmark = pytest.mark.usefixtures("backend")

TTL = timedelta(seconds=60)
HERE = socket.gethostname()


class _Vendor:
    """The vendor at the network edge: answers once the test opens its gate; the first
    ``failures`` calls fail (a transient error, stored as a failed iteration). It stands
    in for the demo vendor, which needs no key."""

    name = "demo"

    def __init__(self, *, failures: int = 0, gated: bool = False) -> None:
        self.failures = failures
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.calls = 0
        self.answered = 0
        self.in_flight = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        self.in_flight += 1
        try:
            await self.gate.wait()
            self.answered += 1
            if self.answered <= self.failures:
                raise ServerError("upstream exploded", status_code=503)
            return Completion(
                text="1. HubSpot\n2. Salesforce",
                model_version="scripted-1",
                input_tokens=10,
                output_tokens=20,
                latency_ms=1.0,
            )
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


def _serve(runtime: Runtime, vendor: _Vendor) -> _Vendor:
    runtime.providers.register(vendor)
    runtime.runner.retry_policy = RetryPolicy(max_attempts=1)
    return vendor


@pytest.fixture
async def other(settings: Settings) -> AsyncIterator[Runtime]:
    """A second process's runtime on the same database (its own lease owner)."""
    async with open_runtime(settings) as opened:
        yield opened


async def _batch(runtime: Runtime, batch_id: uuid.UUID) -> BatchRun:
    async with transaction(runtime.session_factory) as session:
        batch = await session.get(BatchRun, batch_id, populate_existing=True)
        assert batch is not None
        return batch


async def _resume(runtime: Runtime, experiment_id: uuid.UUID, now: datetime | None = None) -> int:
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        return await experiment_service.resume(
            session, experiment, actor=Actor.cli(), runtime=runtime, now=now
        )


async def test_a_resume_waits_for_the_process_that_runs_the_batch(
    runtime: Runtime, other: Runtime
) -> None:
    holder = _serve(runtime, _Vendor(failures=3, gated=True))
    second = _serve(other, _Vendor())
    experiment_id = await stored_experiment(runtime.session_factory, iterations=10)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    running = asyncio.create_task(runtime.executor.run_experiment(experiment_id))
    await wait_until(lambda: holder.in_flight == 10, message="the holder's calls did not start")
    held = await _batch(runtime, batch.id)
    assert held.lease_owner == runtime.runner.leases.owner
    assert held.lease_owner.startswith(f"{HERE}:{os.getpid()}:")

    # Another process: its resume is refused, naming the holder; its executor leaves the
    # batch alone. Nothing is deleted, nothing is called.
    with pytest.raises(leases.BatchBusy) as refused:
        await _resume(other, experiment_id)
    assert refused.value.status_code == 409 and refused.value.code == "batch_busy"
    assert f"is being run by worker {runtime.runner.leases.owner} (last seen 0 s ago)" in (
        refused.value.message
    )
    await other.executor.run_experiment(experiment_id)
    assert second.calls == 0

    holder.gate.set()
    await running
    done = await _batch(runtime, batch.id)
    assert (done.stored, done.succeeded, done.failed) == (10, 7, 3)
    assert done.lease_owner is None  # given back at the end

    # Free now: the resume runs the three failed iterations again, and nothing else.
    assert await _resume(other, experiment_id) == 1
    resumed = await _batch(other, batch.id)
    assert (resumed.status, resumed.stored, resumed.succeeded) == (BatchStatus.COMPLETED, 10, 10)
    assert (holder.calls, second.calls) == (10, 3)
    async with transaction(runtime.session_factory) as session:
        indices = list(
            await session.scalars(select(Iteration.index).where(Iteration.batch_run_id == batch.id))
        )
    assert sorted(indices) == list(range(10))


async def test_a_lease_is_held_until_it_lapses(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(runtime.session_factory, iterations=5)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    now = utcnow()
    async with transaction(runtime.session_factory) as session:
        assert await leases.acquire(session, batch.id, owner="a:1:x", now=now, ttl=TTL)
        assert await leases.acquire(session, batch.id, owner="a:1:x", now=now, ttl=TTL)
        assert not await leases.acquire(session, batch.id, owner="b:2:y", now=now, ttl=TTL)
        later = now + TTL - timedelta(seconds=1)
        assert not await leases.acquire(session, batch.id, owner="b:2:y", now=later, ttl=TTL)
        (holder,) = await leases.holders(session, [batch.id], now=later, ttl=TTL)
        assert holder.describe(later, TTL).endswith(
            "is being run by worker a:1:x (last seen 59 s ago); try again after it stops, "
            "or in 1 s if that worker is gone"
        )
        lapsed = now + TTL
        assert await leases.holders(session, [batch.id], now=lapsed, ttl=TTL) == []
        assert await leases.acquire(session, batch.id, owner="b:2:y", now=lapsed, ttl=TTL)
        await leases.release(session, batch.id, owner="a:1:x")  # not the holder: no effect
    assert (await _batch(runtime, batch.id)).lease_owner == "b:2:y"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def test_only_processes_of_this_machine_known_to_have_ended_are_dead() -> None:
    mine = leases.new_owner()
    try:
        assert not leases.known_dead(mine)
        assert leases.known_dead(f"{HERE}:{os.getpid()}:{'0' * 8}")  # this pid, earlier
        assert leases.known_dead(f"{HERE}:{_dead_pid()}:abcd1234")
        assert not leases.known_dead(f"{HERE}:{os.getppid()}:abcd1234")  # still running
        assert not leases.known_dead(f"elsewhere.example:{_dead_pid()}:abcd1234")
        assert not leases.known_dead("not an owner")
    finally:
        leases.close_owner(mine)
    assert leases.known_dead(mine)  # its runtime closed


async def test_starting_up_takes_over_exactly_the_batches_nobody_runs(
    runtime: Runtime, other: Runtime
) -> None:
    now = utcnow()
    fresh, old = now - timedelta(seconds=5), now - TTL - timedelta(seconds=1)
    cases = {
        "never started": (BatchStatus.QUEUED, None, fresh),
        "its process died": (BatchStatus.RUNNING, f"{HERE}:{_dead_pid()}:abcd1234", fresh),
        "run by a live process": (BatchStatus.RUNNING, other.runner.leases.owner, fresh),
        "held on another machine": (BatchStatus.RUNNING, "elsewhere:7:abcd1234", fresh),
        "lapsed on another machine": (BatchStatus.RUNNING, "elsewhere:7:abcd1234", old),
        "finished": (BatchStatus.COMPLETED, None, old),
    }
    batches: dict[str, uuid.UUID] = {}
    for case, (status, owner, heartbeat) in cases.items():
        experiment_id = await stored_experiment(runtime.session_factory, iterations=5)
        (batch,) = await stored_batches(runtime.session_factory, experiment_id)
        batches[case] = batch.id
        async with transaction(runtime.session_factory) as session:
            await session.execute(
                update(BatchRun)
                .where(BatchRun.id == batch.id)
                .values(status=status, lease_owner=owner, heartbeat_at=heartbeat)
            )

    me = runtime.runner.leases.owner
    async with transaction(runtime.session_factory) as session:
        taken = await leases.take_orphans(session, owner=me, now=now, ttl=TTL)
    assert {batch.id for batch in taken} == {
        batches[case] for case in ("never started", "its process died", "lapsed on another machine")
    }
    assert all(batch.lease_owner == me and batch.heartbeat_at == now for batch in taken)
    async with transaction(runtime.session_factory) as session:
        again = await leases.take_orphans(
            session, owner=other.runner.leases.owner, now=now, ttl=TTL
        )
    assert again == []  # a second process starting at once finds them held


class _SteppedClock:
    """A clock whose sleeps end only when the test steps it; its wall clock stands at
    ``wall`` (a lease keeper dates its renewals by it)."""

    def __init__(self, wall: datetime | None = None) -> None:
        self._step = asyncio.Event()
        self.sleeping = 0
        self.wall = wall or utcnow()

    def monotonic(self) -> float:
        return 0.0

    def time(self) -> float:
        return self.wall.timestamp()

    async def sleep(self, seconds: float) -> None:
        self.sleeping += 1
        try:
            await self._step.wait()
        finally:
            self.sleeping -= 1
        self._step.clear()

    def step(self) -> None:
        self._step.set()


async def test_the_holder_renews_its_lease_while_a_call_is_slow(runtime: Runtime) -> None:
    vendor = _serve(runtime, _Vendor(gated=True))
    clock = _SteppedClock(wall=utcnow() + timedelta(seconds=30))
    runtime.runner.leases.clock = clock
    experiment_id = await stored_experiment(runtime.session_factory, iterations=3)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    running = asyncio.create_task(runtime.executor.run_experiment(experiment_id))
    await wait_until(lambda: vendor.in_flight == 3 and clock.sleeping == 1)
    claimed = (await _batch(runtime, batch.id)).heartbeat_at
    assert claimed is not None

    clock.step()  # a quarter of the TTL later: no answer yet, the lease is renewed

    async def renewed() -> bool:
        moved = await _batch(runtime, batch.id)
        assert moved.heartbeat_at is not None and moved.stored == 0
        return moved.heartbeat_at > claimed and moved.lease_owner == runtime.runner.leases.owner

    await wait_until(renewed, message="the lease was not renewed")
    assert (await _batch(runtime, batch.id)).heartbeat_at == clock.wall  # dated by its clock
    vendor.gate.set()
    await running
    assert clock.sleeping == 0  # the renewal stopped with the batch
    done = await _batch(runtime, batch.id)
    assert (done.status, done.lease_owner) == (BatchStatus.COMPLETED, None)


async def _take_over(runtime: Runtime, taker: Runtime, batch_id: uuid.UUID) -> None:
    """What a process starting up does once the holder's lease has lapsed (its renewals
    failed for longer than the TTL): takes the batch over."""
    later = utcnow() + taker.lease_ttl + timedelta(seconds=1)
    async with transaction(taker.session_factory) as session:
        taken = await leases.take_orphans(
            session, owner=taker.runner.leases.owner, now=later, ttl=taker.lease_ttl
        )
    assert [batch.id for batch in taken] == [batch_id]


async def test_a_holder_whose_lease_was_taken_over_stops_and_does_not_take_it_back(
    runtime: Runtime, other: Runtime
) -> None:
    vendor = _serve(runtime, _Vendor(gated=True))
    clock = _SteppedClock()
    runtime.runner.leases.clock = clock
    experiment_id = await stored_experiment(runtime.session_factory, iterations=50)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    running = asyncio.create_task(runtime.executor.run_experiment(experiment_id))
    slots = runtime.settings.runner.concurrency_per_provider  # 16 calls wait at the gate
    await wait_until(lambda: vendor.in_flight == slots and clock.sleeping == 1)

    await _take_over(runtime, other, batch.id)
    clock.step()  # the holder's next renewal finds the lease in another's name
    await wait_until(
        lambda: runtime.runner.halted(batch.id), message="the holder did not notice its loss"
    )
    vendor.gate.set()
    await running

    # The calls in flight ended and were stored; no other call started here, and the
    # lease still names the process that took the batch over.
    after = await _batch(runtime, batch.id)
    assert vendor.calls == slots and after.stored == slots
    assert (after.status, after.lease_owner) == (BatchStatus.RUNNING, other.runner.leases.owner)


async def test_an_exclusive_claim_needs_the_lease_to_still_name_its_holder(
    runtime: Runtime, other: Runtime
) -> None:
    experiment_id = await stored_experiment(runtime.session_factory, iterations=5)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    me = runtime.runner.leases.owner
    assert await runtime.runner.leases.acquire(batch.id)
    await _take_over(runtime, other, batch.id)
    async with transaction(runtime.session_factory) as session:
        assert await run_service.claim(session, batch.id, owner=me, exclusive=True) is None
        assert not await leases.renew(session, batch.id, owner=me, now=utcnow(), exclusive=True)
    assert (await _batch(runtime, batch.id)).lease_owner == other.runner.leases.owner
    async with transaction(runtime.session_factory) as session:  # Celery chunks share it
        assert await run_service.claim(session, batch.id, owner=me) is not None
    assert (await _batch(runtime, batch.id)).lease_owner == me
