"""What the issue asks spend control to show: two worker processes drawing on one small
workspace budget, on PostgreSQL (row locks) with their shared rate limits in Redis,
calling a priced model on the fake LLM server (OpenAI's wire format), never spend more
than the budget plus the calls in flight; their batches end ``budget_exhausted`` and
every reservation is released."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.metering.models import ExperimentMonth, UsageMonth, WorkspaceBudget
from echo_ai.metering.units import to_usd
from echo_ai.providers.assumed import assumed_cost
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.runs.models import BatchRun, BatchStatus, Iteration
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.factories import experiment_input
from tests.servers import flushed_redis

REDIS_DB = 13
WORKERS = 2
CONCURRENCY = 8
"""Calls each worker has in flight at most (per provider)."""
ITERATIONS = 150
PROMPT = "What is the best CRM for a 10-person startup?"
WORKER = Path(__file__).with_name("spend_worker.py")


@pytest.fixture
def backend() -> str:
    return "postgresql"  # the settings fixture: the PostgreSQL scratch database (or a skip)


@pytest.mark.long  # two worker processes, tens of seconds on a busy machine
async def test_two_workers_never_spend_past_the_budget_by_more_than_the_calls_in_flight(
    runtime: Runtime, settings: Settings, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake_llm.config.latency_ms = 15  # calls overlap within and across the workers
    per_call = assumed_cost("openai", "gpt-4o-mini", approximate_tokens(PROMPT), grounding=False)
    assert per_call is not None
    budget = (per_call * 12).quantize(Decimal("0.00000001"))
    workspace_id = uuid.uuid4()
    async with transaction(runtime.session_factory) as session:
        session.add(WorkspaceBudget(workspace_id=workspace_id, monthly_usd=budget))
        experiments = [
            await experiment_service.create(
                session,
                experiment_input(
                    prompt=PROMPT, providers=["openai:gpt-4o-mini"], iterations=ITERATIONS
                ),
                chunk_size=25,
                workspace_id=workspace_id,
            )
            for _ in range(WORKERS)
        ]
    ready = tmp_path / "ready"
    ready.mkdir()
    with flushed_redis(REDIS_DB) as redis_url:
        environment = {
            **os.environ,
            "DATABASE_URL": settings.resolved_database_url,
            "REDIS_URL": redis_url,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": f"{fake_llm.base_url}/v1",
            "ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER": str(CONCURRENCY),
        }
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(WORKER),
                str(tmp_path / f"data-{n}"),
                str(experiment.id),
                str(ready),
                str(WORKERS),
                env=environment,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            for n, experiment in enumerate(experiments)
        ]
        for worker in workers:
            _, err = await asyncio.wait_for(worker.communicate(), timeout=60)
            assert worker.returncode == 0, err.decode()[-3000:]

    ids = [experiment.id for experiment in experiments]
    async with transaction(runtime.session_factory) as session:
        batches = list(
            await session.scalars(select(BatchRun).where(BatchRun.experiment_id.in_(ids)))
        )
        stored_cost = Decimal(
            await session.scalar(
                select(func.sum(Iteration.cost_usd)).where(
                    Iteration.batch_run_id.in_([batch.id for batch in batches])
                )
            )
            or 0
        )
        max_call = Decimal(
            await session.scalar(
                select(func.max(Iteration.cost_usd)).where(
                    Iteration.batch_run_id.in_([batch.id for batch in batches])
                )
            )
            or 0
        )
        usage = (
            await session.execute(select(UsageMonth).where(UsageMonth.workspace_id == workspace_id))
        ).scalar_one()
        own_reserved = list(
            await session.scalars(
                select(ExperimentMonth.reserved_nusd).where(ExperimentMonth.experiment_id.in_(ids))
            )
        )
    assert [batch.status for batch in batches] == [BatchStatus.BUDGET_EXHAUSTED] * WORKERS
    assert all(batch.error_code == "budget_exhausted" for batch in batches)
    stored = sum(batch.stored for batch in batches)
    assert 0 < stored < WORKERS * ITERATIONS
    in_flight = WORKERS * CONCURRENCY
    assert stored_cost <= budget + in_flight * max_call
    assert usage.reserved_nusd == 0 and own_reserved == [0] * WORKERS
    assert abs(to_usd(usage.cost_nusd) - stored_cost) < Decimal("1e-6")
    assert fake_llm.request_count == stored  # every call sent was stored (and counted)
