"""The runner end to end on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
from sqlalchemy import func, select, update

from echo_ai.db import transaction, utcnow
from echo_ai.execution.runner import CANCEL_CHECK_SECONDS
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.failures import SENTENCES, Failure, FailureCode
from echo_ai.providers.base import (
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ServerError,
)
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentStatus, Iteration
from tests.factories import stored_batches, stored_experiment
from tests.kit import ManualClock, wait_until

pytestmark = pytest.mark.usefixtures("backend")


async def _iteration_indices(runtime: Runtime, batch_id: uuid.UUID) -> list[int]:
    async with transaction(runtime.session_factory) as session:
        return list(
            await session.scalars(
                select(Iteration.index)
                .where(Iteration.batch_run_id == batch_id)
                .order_by(Iteration.index)
            )
        )


async def test_demo_experiment_runs_to_completed_metrics(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(runtime.session_factory, iterations=35)
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert batch.synthetic is True
    assert await _iteration_indices(runtime, batch.id) == list(range(35))
    assert batch.metrics is not None
    visibility = batch.metrics["visibility"]
    assert visibility["denominator"] == 35
    assert 0 <= visibility["ci_low"] <= visibility["value"] <= visibility["ci_high"] <= 1
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        assert experiment.status == ExperimentStatus.COMPLETED
        stored = await session.scalar(
            select(func.count()).where(
                Iteration.batch_run_id == batch.id, Iteration.success.is_(True)
            )
        )
    assert stored == batch.succeeded == 35


async def test_visibility_matches_the_demo_probability(runtime: Runtime) -> None:
    # The demo provider mentions the target with a known probability; the measured
    # visibility's interval must contain it (the chance it does not is about 5%, so the
    # seed is fixed by the batch and the check is on a large enough sample).
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=400, demo_probabilities={"HubSpot": 0.3}
    )
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.metrics is not None
    visibility = batch.metrics["visibility"]
    assert visibility["ci_low"] - 0.05 <= 0.3 <= visibility["ci_high"] + 0.05


async def test_interrupted_batch_resumes_only_missing_iterations(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(runtime.session_factory, iterations=30)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    # Only the first chunk ran before the "crash".
    ended = await runtime.runner.run_chunk(batch.id, 0)
    assert ended.finalized is False and ended.next_chunk is None
    assert await _iteration_indices(runtime, batch.id) == list(range(10))
    async with transaction(runtime.session_factory) as session:
        first_ids = set(
            await session.scalars(select(Iteration.id).where(Iteration.batch_run_id == batch.id))
        )

    await runtime.executor.run_experiment(experiment_id)

    assert await _iteration_indices(runtime, batch.id) == list(range(30))
    async with transaction(runtime.session_factory) as session:
        kept = set(
            await session.scalars(
                select(Iteration.id).where(Iteration.batch_run_id == batch.id, Iteration.index < 10)
            )
        )
    assert kept == first_ids  # the first chunk's rows were not redone
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED


async def test_redelivered_chunks_never_duplicate_and_finalise_once(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(runtime.session_factory, iterations=20)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    # Every chunk delivered three times at once, as a broker may do after a failure.
    results = await asyncio.gather(
        *(runtime.runner.run_chunk(batch.id, chunk) for chunk in (0, 1) * 3)
    )
    assert [result.finalized for result in results].count(True) == 1
    assert await _iteration_indices(runtime, batch.id) == list(range(20))
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert batch.succeeded == 20


class _ScriptedVendor:
    """A stand-in for a vendor at the network edge: fails as told, counts calls. With a
    ``gate``, every answer waits until the test opens it."""

    name = "openai"

    def __init__(self, error: Exception | None = None, *, delay: float = 0.0) -> None:
        self.error = error
        self.delay = delay
        self.gate: asyncio.Event | None = None
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.delay)  # the vendor's latency
            if self.error is not None:
                raise self.error
            return Completion(
                text=f"1. HubSpot\n2. Salesforce (answer {request.seed})",
                model_version="scripted-1",
                input_tokens=10,
                output_tokens=20,
                latency_ms=self.delay * 1000,
            )
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


@pytest.fixture
def scripted(runtime: Runtime) -> _ScriptedVendor:
    vendor = _ScriptedVendor()
    runtime.providers.register(vendor)
    return vendor


async def test_fatal_provider_error_stops_the_batch_with_its_reason(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    scripted.error = AuthenticationFailed("invalid x-api-key", status_code=401)
    scripted.delay = 0.005
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=50, providers=["openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.FAILED
    assert batch.error_code == "authentication_failed"
    assert batch.error == (
        "The provider refused the API key; fix the key, then resume the experiment. "
        'The provider said: "invalid x-api-key"'
    )
    assert scripted.calls < 50  # it stopped instead of failing 50 times
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
    assert experiment.status == ExperimentStatus.FAILED


async def test_a_batch_a_fatal_error_stops_announces_its_end_once(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    """The batch that ends a run by failing calls ``on_finalized`` like one that completes
    it (the alert rules' evaluation), once although each of its chunks settles it."""
    scripted.error = AuthenticationFailed("invalid x-api-key", status_code=401)
    scripted.gate = asyncio.Event()
    ended: list[uuid.UUID] = []

    async def on_end(batch_run_id: uuid.UUID) -> None:
        ended.append(batch_run_id)
        assert scripted.gate is not None
        scripted.gate.set()  # the demo batch has completed: now the vendor refuses the key

    runtime.runner.on_finalized = on_end
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=50, providers=["demo", "openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)

    batches = {b.provider: b for b in await stored_batches(runtime.session_factory, experiment_id)}
    assert batches["demo"].status == BatchStatus.COMPLETED
    assert batches["openai"].status == BatchStatus.FAILED
    assert ended == [batches["demo"].id, batches["openai"].id]


async def test_transient_errors_are_stored_as_failed_iterations(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    runtime.runner.retry_policy = type(runtime.runner.retry_policy)(
        max_attempts=2, base_delay=0.0, max_delay=0.0
    )
    scripted.error = ServerError("upstream exploded", status_code=503)
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=5, providers=["openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.FAILED
    assert batch.error_code == "all_iterations_failed"
    assert batch.error == (
        "Every iteration of this provider failed. "
        "The most common error: server_error: upstream exploded"
    )
    assert scripted.calls == 10  # two attempts for each of five iterations
    async with transaction(runtime.session_factory) as session:
        rows = list(
            await session.scalars(select(Iteration).where(Iteration.batch_run_id == batch.id))
        )
    assert len(rows) == 5
    assert all(not row.success and row.error_code == "server_error" for row in rows)
    assert all(row.attempts == 2 for row in rows)


async def test_concurrency_per_provider_is_bounded(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    scripted.delay = 0.01
    runtime.runner.limits.concurrency = 4
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=40, providers=["openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)
    assert scripted.peak == 4
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.succeeded == 40


async def test_progress_is_reported_per_stored_iteration(runtime: Runtime) -> None:
    seen: list[tuple[uuid.UUID, str]] = []
    runtime.runner.on_progress = lambda batch_id, outcome: seen.append((batch_id, outcome))
    experiment_id = await stored_experiment(runtime.session_factory, iterations=12)
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert seen == [(batch.id, "success")] * 12


async def test_finalise_waits_for_every_iteration(runtime: Runtime) -> None:
    experiment_id = await stored_experiment(runtime.session_factory, iterations=20)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    await runtime.runner.run_chunk(batch.id, 1)
    async with transaction(runtime.session_factory) as session:
        assert await run_service.finalize_if_complete(session, batch.id) is False
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.RUNNING
    assert batch.metrics is None


class _Unreliable(_ScriptedVendor):
    """Fails fatally on its first call only, after a short wait; later calls succeed slower."""

    async def complete(self, request: CompletionRequest) -> Completion:
        if self.calls == 0:
            self.calls += 1
            await asyncio.sleep(0.01)  # the vendor's latency
            raise AuthenticationFailed("key revoked", status_code=401)
        self.delay = 0.05
        return await super().complete(request)


async def test_calls_in_flight_at_a_fatal_error_are_still_stored(runtime: Runtime) -> None:
    vendor = _Unreliable()
    runtime.providers.register(vendor)
    runtime.runner.limits.concurrency = 8
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=40, providers=["openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.FAILED
    assert batch.error_code == "authentication_failed"
    assert batch.error is not None and "key revoked" in batch.error
    stored = await _iteration_indices(runtime, batch.id)
    assert len(stored) == vendor.calls < 40  # every paid call kept, none started after
    assert batch.succeeded == vendor.calls - 1 > 0
    assert batch.failed == 1
    assert batch.metrics is not None  # partial results are shown
    assert batch.metrics["visibility"]["denominator"] == batch.succeeded


async def test_resume_runs_failed_iterations_again(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    scripted.error = AuthenticationFailed("bad key", status_code=401)
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=20, providers=["openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.FAILED

    scripted.error = None  # the key was fixed
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        assert (
            await run_service.reopen_unfinished(
                session, experiment_id, now=utcnow(), lease_ttl=runtime.lease_ttl
            )
            == 1
        )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert (batch.succeeded, batch.failed) == (20, 0)
    assert await _iteration_indices(runtime, batch.id) == list(range(20))
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        assert experiment.status == ExperimentStatus.COMPLETED
        assert (
            await run_service.reopen_unfinished(
                session, experiment_id, now=utcnow(), lease_ttl=runtime.lease_ttl
            )
            == 0
        )  # nothing left


class _Broken(_ScriptedVendor):
    """A vendor adapter with a bug: raises something that is not a ProviderError."""

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        await asyncio.sleep(0.005)  # the vendor's latency
        raise RuntimeError("adapter bug")


async def test_a_crashing_chunk_stops_the_batch_and_its_other_chunks(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    vendor = _Broken()
    runtime.providers.register(vendor)
    ended: list[uuid.UUID] = []

    async def on_end(batch_run_id: uuid.UUID) -> None:
        ended.append(batch_run_id)

    runtime.runner.on_finalized = on_end
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=60, providers=["openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)
    calls_when_done = vendor.calls
    await wait_until(_no_other_task_left)

    assert vendor.calls == calls_when_done  # nothing keeps running behind our back
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.FAILED
    assert ended == [batch.id]  # its end announced (the run's alerts), once
    # Users get our code and sentence; the exception goes to the log, with the batch.
    assert batch.error_code == "internal_error"
    assert batch.error == SENTENCES[FailureCode.INTERNAL_ERROR]
    (logged,) = [r for r in caplog.records if r.exc_info and str(batch.id) in r.getMessage()]
    assert "internal_error" in logged.getMessage() and "RuntimeError: adapter bug" in caplog.text


class _AnswersWithNul(_ScriptedVendor):
    async def complete(self, request: CompletionRequest) -> Completion:
        completion = await super().complete(request)
        return dataclasses.replace(completion, text="HubSpot\x00 is great")


async def test_answers_with_nul_characters_are_stored(runtime: Runtime) -> None:
    runtime.providers.register(_AnswersWithNul())
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=3, providers=["openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    async with transaction(runtime.session_factory) as session:
        answers = await experiment_service.answers(
            session, await experiment_service.get(session, experiment_id)
        )
    assert answers == ["HubSpot\ufffd is great"] * 3
    assert batch.metrics is not None and batch.metrics["visibility"]["numerator"] == 3


async def test_two_batches_finishing_together_complete_the_experiment(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=10, providers=["demo", "openai:gpt-4o-mini"]
    )
    await runtime.executor.run_experiment(experiment_id)
    batch_ids = [batch.id for batch in await stored_batches(runtime.session_factory, experiment_id)]

    async def finalize(batch_id: uuid.UUID) -> bool:
        async with transaction(runtime.session_factory) as session:
            return await run_service.finalize_if_complete(session, batch_id)

    for _ in range(10):  # put both back just before their last step, then race them
        async with transaction(runtime.session_factory) as session:
            await session.execute(
                update(BatchRun)
                .where(BatchRun.id.in_(batch_ids))
                .values(status=BatchStatus.RUNNING)
            )
            await session.execute(
                update(Experiment)
                .where(Experiment.id == experiment_id)
                .values(status=ExperimentStatus.RUNNING)
            )
        assert await asyncio.gather(*(finalize(batch_id) for batch_id in batch_ids)) == [
            True,
            True,
        ]
        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, experiment_id)
        assert experiment.status == ExperimentStatus.COMPLETED


def _no_other_task_left() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


async def _cancel_when_called(
    runtime: Runtime, vendor: _ScriptedVendor, experiment_id: uuid.UUID, *, calls: int
) -> None:
    await wait_until(lambda: vendor.calls >= calls)
    async with transaction(runtime.session_factory) as session:
        assert await run_service.cancel(session, experiment_id)


async def test_a_cancellation_in_the_database_stops_new_calls(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    """Without the in-process mark (as for a runner in another process), the runner
    re-reads the batch's status and starts no new call once it is cancelled."""
    scripted.delay = 0.01
    scripted.gate = asyncio.Event()
    runtime.runner.limits.concurrency = 4
    clock = ManualClock()
    runtime.runner.clock = clock
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=300, providers=["openai:gpt-4o-mini"]
    )

    async def cancel_then_let_the_interval_pass() -> None:
        # Cancelled while every slot's call waits at the gate, so the run cannot end first.
        await _cancel_when_called(runtime, scripted, experiment_id, calls=4)
        clock.advance(CANCEL_CHECK_SECONDS)
        scripted.gate.set()

    await asyncio.gather(
        runtime.executor.run_experiment(experiment_id), cancel_then_let_the_interval_pass()
    )
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.CANCELLED
    stored = await _iteration_indices(runtime, batch.id)
    assert len(stored) == scripted.calls < 300  # every call made is stored
    assert batch.succeeded == len(stored)  # partial metrics settled by the last chunk
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        assert experiment.status == ExperimentStatus.CANCELLED
        assert await run_service.cancel(session, experiment_id) == []


async def test_the_executor_mark_stops_new_calls_at_once(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    scripted.delay = 0.01
    scripted.gate = asyncio.Event()
    runtime.runner.limits.concurrency = 4
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=300, providers=["openai:gpt-4o-mini"]
    )

    async def cancel() -> int:
        await _cancel_when_called(runtime, scripted, experiment_id, calls=4)
        (batch,) = await stored_batches(runtime.session_factory, experiment_id)
        await runtime.executor.cancel([batch.id])
        calls = scripted.calls
        assert scripted.gate is not None
        scripted.gate.set()
        return calls

    _, calls = await asyncio.gather(runtime.executor.run_experiment(experiment_id), cancel())
    assert scripted.calls <= calls + 4  # at most the calls already in flight


async def test_a_batch_failed_by_another_process_stops_starting_calls(
    runtime: Runtime, scripted: _ScriptedVendor
) -> None:
    """Another worker's chunk failed the batch (say its retries ran out): this runner
    notices at its next status re-read and starts no more calls."""
    scripted.delay = 0.01
    scripted.gate = asyncio.Event()
    runtime.runner.limits.concurrency = 2
    clock = ManualClock()
    runtime.runner.clock = clock
    experiment_id = await stored_experiment(
        runtime.session_factory, iterations=200, providers=["openai:gpt-4o-mini"]
    )
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)

    async def fail_elsewhere() -> None:
        await wait_until(lambda: scripted.calls >= 2)  # both slots wait at the gate
        async with transaction(runtime.session_factory) as session:
            await run_service.fail(session, batch.id, Failure.of(FailureCode.WORKER_LOST))
        clock.advance(CANCEL_CHECK_SECONDS)
        assert scripted.gate is not None
        scripted.gate.set()

    await asyncio.gather(runtime.executor.run_experiment(experiment_id), fail_elsewhere())

    assert scripted.calls < 200 * 0.2
    (ended,) = await stored_batches(runtime.session_factory, experiment_id)
    assert ended.status == BatchStatus.FAILED and ended.error_code == "worker_lost"
