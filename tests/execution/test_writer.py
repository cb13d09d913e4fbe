"""Storage of iterations: group commit, repeats ignored, one bad row isolated."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.execution.writer import IterationWriter
from echo_ai.experiments import service as experiment_service
from echo_ai.providers.base import GroundingMissing
from echo_ai.providers.openai import OpenAIProvider
from echo_ai.runs.models import BatchStatus, Iteration
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.factories import experiment_input, failed_row

pytestmark = pytest.mark.usefixtures("backend")


async def _batch_id(runtime: Runtime) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(session, experiment_input(), chunk_size=10)
        return (await experiment_service.get(session, created.id)).batch_runs[0].id


async def test_rows_written_together_are_stored_once(runtime: Runtime) -> None:
    batch_id = await _batch_id(runtime)
    writer = IterationWriter(runtime.session_factory)
    rows = [failed_row(batch_id, i) for i in range(20)] + [failed_row(batch_id, 3)]  # 3 twice
    await asyncio.gather(*(writer.write(row) for row in rows))
    async with transaction(runtime.session_factory) as session:
        stored = list(
            await session.scalars(select(Iteration.index).where(Iteration.batch_run_id == batch_id))
        )
    assert sorted(stored) == list(range(20))


async def test_a_bad_row_fails_alone(runtime: Runtime) -> None:
    batch_id = await _batch_id(runtime)
    writer = IterationWriter(runtime.session_factory)
    orphan = failed_row(uuid.uuid4(), 0)  # no such batch: the foreign key refuses it
    results = await asyncio.gather(
        *(writer.write(row) for row in [failed_row(batch_id, 0), orphan, failed_row(batch_id, 1)]),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    async with transaction(runtime.session_factory) as session:
        stored = list(
            await session.scalars(select(Iteration.index).where(Iteration.batch_run_id == batch_id))
        )
    assert sorted(stored) == [0, 1]


async def test_an_answer_refused_for_lack_of_search_keeps_its_cost(
    runtime: Runtime, fake_llm: FakeLLMServer
) -> None:
    runtime.providers.register(
        OpenAIProvider(api_key="sk-test", base_url=f"{fake_llm.base_url}/v1", timeout_seconds=5)
    )
    fake_llm.config.script = ["no_search"] * 3
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(
                providers=["openai:gpt-4o-mini"],
                iterations=3,
                grounding=True,
                require_grounding=True,
            ),
            chunk_size=10,
        )
    await runtime.executor.run_experiment(created.id)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, created.id)
        rows = list(await session.scalars(select(Iteration)))
    (batch,) = experiment.batch_runs
    assert batch.status == BatchStatus.FAILED
    assert batch.error_code == "all_iterations_failed"
    assert batch.error is not None and GroundingMissing.code in batch.error
    assert len(rows) == 3
    for row in rows:
        assert not row.success and row.error_code == "grounding_missing"
        assert row.answer and row.output_tokens and row.cost_usd and row.cost_usd > 0
    assert batch.cost_usd == sum(row.cost_usd for row in rows if row.cost_usd)


async def test_drain_stores_the_rows_of_cancelled_callers(runtime: Runtime) -> None:
    """At shutdown the callers are cancelled first; the answers they handed over are still
    stored before the database closes."""
    batch_id = await _batch_id(runtime)
    writer = IterationWriter(runtime.session_factory)
    callers = [asyncio.create_task(writer.write(failed_row(batch_id, i))) for i in range(5)]
    await asyncio.sleep(0)  # each caller hands its row over and waits for the flush
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    await writer.drain()
    async with transaction(runtime.session_factory) as session:
        stored = list(
            await session.scalars(select(Iteration.index).where(Iteration.batch_run_id == batch_id))
        )
    assert sorted(stored) == list(range(5))


async def test_drain_without_rows_returns_at_once(runtime: Runtime) -> None:
    await IterationWriter(runtime.session_factory).drain(within=0)
