"""A batch never fails because a database connection was slow to come (issue 9, finding 3).

The probe's large experiment crashed two batches with ``QueuePool limit ... reached``.
Here the runner's pool has one connection and the test holds it, at the moment a chunk
stores its answers (or claims its batch): the work waits and is tried again with back-off,
and the batch completes once the connection is free, with every answer stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from echo_ai.db import create_engine, create_session_factory, is_transient
from echo_ai.execution.executor import LocalExecutor
from echo_ai.execution.runner import Runner
from echo_ai.execution.runtime import Runtime
from echo_ai.providers.base import Completion, CompletionRequest
from echo_ai.runs.models import BatchStatus
from tests.factories import stored_batches, stored_experiment
from tests.kit import ManualClock, wait_until

pytestmark = pytest.mark.usefixtures("backend")

ITERATIONS = 6


class _GatedVendor:
    """Answers once the test opens the gate (so it decides when answers are stored)."""

    name = "openai"

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        await self.gate.wait()
        return Completion(
            text="HubSpot, then Salesforce.",
            model_version=request.model,
            input_tokens=10,
            output_tokens=5,
            latency_ms=1.0,
        )

    async def aclose(self) -> None:
        pass


@pytest.fixture
async def one_connection(runtime: Runtime) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database with a pool of one connection, which a caller
    waits for at most 0.2 s."""
    runtime.settings.database.pool_timeout_seconds = 0.2
    engine = create_engine(runtime.settings, pool_size=1)
    yield engine
    await engine.dispose()


def _executor(runtime: Runtime, engine: AsyncEngine, *, max_retries: int) -> LocalExecutor:
    runner = Runner(
        session_factory=create_session_factory(engine),
        providers=runtime.providers,
        limits=runtime.runner.limits,
        leases=runtime.runner.leases,
        clock=ManualClock(),  # back-off pauses return at once; status is read once
    )
    return LocalExecutor(runner, chunks_per_vendor=1, max_retries=max_retries)


def _busy_warnings(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


async def test_answers_stored_while_the_pool_is_busy_are_retried_not_failed(
    runtime: Runtime, one_connection: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = _GatedVendor()
    runtime.providers.register(vendor)
    # No chunk retry: only the writer's own retry can save the batch.
    executor = _executor(runtime, one_connection, max_retries=0)
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=ITERATIONS, providers=["openai:gpt-4o-mini"]
    )
    run = asyncio.create_task(executor.run_experiment(experiment_id))
    await wait_until(lambda: vendor.calls == ITERATIONS)  # claimed; every call in flight

    held = await one_connection.connect()  # the pool's only connection, taken
    try:
        vendor.gate.set()  # the answers come back: storing them must wait
        await wait_until(lambda: _busy_warnings(caplog, "storing") >= 2)
        assert not run.done()
    finally:
        await held.close()
    await run

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED, batch.error
    assert (batch.stored, batch.succeeded, batch.failed) == (ITERATIONS, ITERATIONS, 0)
    assert batch.error is None and batch.error_code is None


async def test_a_chunk_that_could_not_get_a_connection_runs_again(
    runtime: Runtime, one_connection: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = _GatedVendor()
    vendor.gate.set()
    runtime.providers.register(vendor)
    executor = _executor(runtime, one_connection, max_retries=3)
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=ITERATIONS, providers=["openai:gpt-4o-mini"]
    )
    (queued,) = await stored_batches(runtime.session_factory, experiment_id)

    held = await one_connection.connect()  # taken before the chunk claims its batch
    try:
        run = asyncio.create_task(executor.run_batches([queued]))
        await wait_until(lambda: _busy_warnings(caplog, "running it again") >= 1)
        assert vendor.calls == 0
    finally:
        await held.close()
    await run

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED, batch.error
    assert batch.stored == ITERATIONS == vendor.calls


async def test_busy_and_unreachable_databases_are_told_from_other_errors(
    runtime: Runtime, one_connection: AsyncEngine
) -> None:
    held = await one_connection.connect()
    try:
        with pytest.raises(PoolTimeout) as timed_out:
            await one_connection.connect()
    finally:
        await held.close()
    assert is_transient(timed_out.value)
    assert not is_transient(ValueError("a bug"))
