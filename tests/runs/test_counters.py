"""Progress counters on the batch row (stored, succeeded, failed) always equal what is
stored: the writer moves them with the rows, and nothing else double counts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.execution.writer import IterationWriter
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.base import Completion, CompletionRequest, ServerError
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus, Iteration
from tests.experiments.test_router import BODY
from tests.factories import experiment_input, failed_row
from tests.kit import register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")


async def _create(runtime: Runtime, **overrides: object) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session, experiment_input(**overrides), chunk_size=10
        )
        return (await experiment_service.get(session, created.id)).batch_runs[0].id


async def _counters(runtime: Runtime, batch_id: uuid.UUID) -> tuple[int, int, int]:
    async with transaction(runtime.session_factory) as session:
        batch = await session.get_one(BatchRun, batch_id)
        return batch.stored, batch.succeeded, batch.failed


async def _in_metrics(runtime: Runtime, batch_id: uuid.UUID) -> tuple[int, int, int]:
    """The counts the finished batch's metrics were computed from."""
    async with transaction(runtime.session_factory) as session:
        metrics = (await session.get_one(BatchRun, batch_id)).metrics
    assert metrics is not None
    return metrics["iterations"], metrics["succeeded"], metrics["failed"]


async def _counted(runtime: Runtime, batch_id: uuid.UUID) -> tuple[int, int, int]:
    """What ``count(*)`` says (what the counters must equal)."""
    async with transaction(runtime.session_factory) as session:
        rows = (
            await session.execute(
                select(Iteration.success, func.count())
                .where(Iteration.batch_run_id == batch_id)
                .group_by(Iteration.success)
            )
        ).all()
    by_outcome = {bool(success): count for success, count in rows}
    ok, bad = by_outcome.get(True, 0), by_outcome.get(False, 0)
    return ok + bad, ok, bad


class _Vendor:
    """A vendor at the network edge: answers with an even seed fail (as a 503) while
    ``failing``; calls after the first ``open_calls`` wait until ``release`` is set."""

    name = "openai"

    def __init__(self, *, failing: bool = True, open_calls: int | None = None) -> None:
        self.failing = failing
        self.open_calls = open_calls
        self.calls = 0
        self.release = asyncio.Event()

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        if self.open_calls is not None and self.calls > self.open_calls:
            await self.release.wait()
        if self.failing and request.seed % 2 == 0:
            raise ServerError("upstream exploded", status_code=503)
        return Completion(
            text="1. HubSpot\n2. Salesforce",
            model_version="scripted-1",
            input_tokens=10,
            output_tokens=20,
            latency_ms=1.0,
        )

    async def aclose(self) -> None:
        return None


def _no_retries(runtime: Runtime) -> None:
    runtime.runner.retry_policy = type(runtime.runner.retry_policy)(
        max_attempts=1, base_delay=0.0, max_delay=0.0
    )


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 60
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.01)


async def test_counters_follow_a_normal_run(runtime: Runtime) -> None:
    batch_id = await _create(runtime, iterations=25)
    async with transaction(runtime.session_factory) as session:
        batch = await session.get_one(BatchRun, batch_id)
        experiment_id = batch.experiment_id
    await runtime.executor.run_experiment(experiment_id)
    assert await _counters(runtime, batch_id) == await _counted(runtime, batch_id) == (25, 25, 0)
    assert await _in_metrics(runtime, batch_id) == (25, 25, 0)


async def test_a_repeated_row_is_not_counted_twice(runtime: Runtime) -> None:
    batch_id = await _create(runtime)
    writer = IterationWriter(runtime.session_factory)
    # index 3 twice in the same group commit
    rows = [failed_row(batch_id, i) for i in range(12)] + [failed_row(batch_id, 3)]
    await asyncio.gather(*(writer.write(row) for row in rows))
    await asyncio.gather(*(writer.write(failed_row(batch_id, i)) for i in range(5)))  # again, later
    assert await _counters(runtime, batch_id) == await _counted(runtime, batch_id) == (12, 0, 12)


async def test_redelivered_chunks_count_each_iteration_once(runtime: Runtime) -> None:
    batch_id = await _create(runtime, iterations=20)
    # Chunk 0 delivered three times while chunk 1 has not run: live counters, no finalise.
    await asyncio.gather(*(runtime.runner.run_chunk(batch_id, 0) for _ in range(3)))
    assert await _counters(runtime, batch_id) == await _counted(runtime, batch_id) == (10, 10, 0)
    async with transaction(runtime.session_factory) as session:
        assert await run_service.finalize_if_complete(session, batch_id) is False
    await asyncio.gather(*(runtime.runner.run_chunk(batch_id, chunk) for chunk in (1, 1, 0)))
    assert await _counters(runtime, batch_id) == await _counted(runtime, batch_id) == (20, 20, 0)
    assert await _in_metrics(runtime, batch_id) == (20, 20, 0)
    async with transaction(runtime.session_factory) as session:
        assert (await session.get_one(BatchRun, batch_id)).status == BatchStatus.COMPLETED


async def test_resume_after_failures_takes_them_off_the_counters(runtime: Runtime) -> None:
    vendor = _Vendor()
    runtime.providers.register(vendor)
    _no_retries(runtime)
    batch_id = await _create(runtime, iterations=20, providers=["openai:gpt-4o-mini"])
    async with transaction(runtime.session_factory) as session:
        experiment_id = (await session.get_one(BatchRun, batch_id)).experiment_id
    await runtime.executor.run_experiment(experiment_id)
    stored, succeeded, failed = await _counters(runtime, batch_id)
    assert (stored, succeeded, failed) == await _counted(runtime, batch_id)
    assert (stored, succeeded, failed) == await _in_metrics(runtime, batch_id)
    assert stored == 20 and failed > 0 and succeeded > 0

    async with transaction(runtime.session_factory) as session:
        assert (
            await run_service.reopen_unfinished(
                session, experiment_id, now=utcnow(), lease_ttl=runtime.lease_ttl
            )
            == 1
        )
    assert await _counters(runtime, batch_id) == await _counted(runtime, batch_id)
    assert await _counters(runtime, batch_id) == (succeeded, succeeded, 0)

    vendor.failing = False
    await runtime.executor.run_experiment(experiment_id)
    assert await _counters(runtime, batch_id) == await _counted(runtime, batch_id) == (20, 20, 0)
    assert await _in_metrics(runtime, batch_id) == (20, 20, 0)


async def test_counters_equal_what_is_stored_after_a_cancel_mid_run(runtime: Runtime) -> None:
    vendor = _Vendor(open_calls=40)
    runtime.providers.register(vendor)
    runtime.runner.limits.concurrency = 4
    _no_retries(runtime)
    batch_id = await _create(runtime, iterations=3000, providers=["openai:gpt-4o-mini"])
    async with transaction(runtime.session_factory) as session:
        experiment_id = (await session.get_one(BatchRun, batch_id)).experiment_id
    run = asyncio.create_task(runtime.executor.run_experiment(experiment_id))

    async def open_calls_stored() -> bool:
        return (await _counters(runtime, batch_id))[0] == 40

    await _until(open_calls_stored, "the first 40 answers stored")
    live = await _counters(runtime, batch_id)
    assert live == await _counted(runtime, batch_id)
    assert live[0] == live[1] + live[2] == 40

    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        await experiment_service.cancel(
            session, experiment, actor=Actor.cli(), executor=runtime.executor
        )  # the executor is told once the cancel has committed
    vendor.release.set()  # the calls in flight at the cancel end, and are stored
    await run  # every chunk has stopped and settled the batch
    stored, succeeded, failed = await _counters(runtime, batch_id)
    assert (stored, succeeded, failed) == await _counted(runtime, batch_id)
    assert (stored, succeeded, failed) == await _in_metrics(runtime, batch_id)
    assert stored == vendor.calls == 44  # the 4 calls in flight at the cancel, too
    async with transaction(runtime.session_factory) as session:
        batch = await session.get_one(BatchRun, batch_id)
    assert batch.status == BatchStatus.CANCELLED


async def test_the_detail_shows_live_counters_and_partial_combined_figures(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime: Runtime = started_app.state.service.runtime
    # The vendor itself is the double below; only its key must be configured.
    runtime.settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    held = _Vendor(failing=False, open_calls=7)
    runtime.providers.register(held)
    runtime.runner.limits.concurrency = 4
    user = await register_and_login(client, "ada@example.com")
    body = {**BODY, "providers": ["demo", "openai:gpt-4o-mini"], "iterations": 30}
    created = await client.post("/v1/experiments", headers=user, json=body)
    assert created.status_code == 202, created.text
    url = f"/v1/experiments/{created.json()['id']}"
    assert created.json()["combined"] is None and created.json()["combined_partial"] is True

    # The demo batch finishes; the other stores its first 7 answers and waits.
    detail: dict[str, Any] = {}

    async def demo_done_other_waiting() -> bool:
        nonlocal detail
        detail = (await client.get(url, headers=user)).json()
        demo, other = detail["providers"]
        return bool(demo["status"] == "completed" and other["stored"] == 7)

    await _until(demo_done_other_waiting, "the demo batch done, 7 answers of the other")
    other = detail["providers"][1]
    assert (other["status"], other["succeeded"], other["failed"]) == ("running", 7, 0)
    assert other["metrics"] is None
    assert detail["status"] == "running"
    assert detail["combined_partial"] is True
    # The demo is never pooled with a real provider: no real figure yet, the real
    # combination names the provider it waits for, the demo's stands apart.
    assert detail["combined_providers"] == [] and detail["combined"] is None
    real, synthetic = detail["combinations"]
    assert (real["partial"], real["missing"], real["pooled"]) == (
        True,
        ["openai:gpt-4o-mini"],
        None,
    )
    assert synthetic["pooled"]["iterations"] == 30  # the finished batch only

    held.release.set()
    done = await wait_finished(client, created.json()["id"], user)
    assert done["combined_partial"] is False
    assert done["combined_providers"] == ["openai:gpt-4o-mini"]
    assert done["combined"]["iterations"] == 30
    assert [c["label"] for c in done["combinations"]] == ["Real providers", "Synthetic (demo)"]
    assert not any(c["partial"] for c in done["combinations"])
    assert [p["stored"] for p in done["providers"]] == [30, 30]
