"""Wires settings, database, providers and the executor together for one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from echo_ai import migrate
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, is_in_memory, is_sqlite
from echo_ai.execution.executor import Executor, LocalExecutor, chunks_per_vendor
from echo_ai.execution.limits import ProviderLimits
from echo_ai.execution.providers import ProviderPool
from echo_ai.execution.runner import ProgressCallback, Runner
from echo_ai.providers.registry import VENDORS
from echo_ai.providers.retry import RetryPolicy
from echo_ai.runs import service as run_service


def worker_pool_size(settings: Settings) -> int:
    """Connections the in-process worker needs at once: one per chunk it runs (at most
    :func:`~echo_ai.execution.executor.chunks_per_vendor` per vendor; a chunk's claim,
    status re-reads and finalisation come one after the other), one for the writer's group
    commit and one for a batch being failed or settled meanwhile."""
    runner = settings.runner
    per_vendor = chunks_per_vendor(runner.concurrency_per_provider, runner.chunk_size)
    return per_vendor * len(VENDORS) + 2


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    """Requests' and use cases' engine (its pool from ``settings.database``)."""
    session_factory: async_sessionmaker[AsyncSession]
    providers: ProviderPool
    runner: Runner
    executor: Executor


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    on_progress: ProgressCallback | None = None,
    executor: Literal["local", "celery"] | None = None,
) -> AsyncIterator[Runtime]:
    """Open the database, providers and an executor (``settings.executor`` unless given).

    The runner stores through an engine of its own, its pool sized to what it runs at once
    (:func:`worker_pool_size`): however large an experiment, requests keep the pool of
    ``settings.database`` to themselves (an in-memory database, which lives in one
    connection, is the exception). Only the embedded SQLite database of a development
    set-up is migrated on open; any other database must have been migrated first
    (``echo-ai migrate``).
    """
    engine = create_engine(settings)
    worker_engine = (
        engine
        if is_in_memory(settings)
        else create_engine(settings, pool_size=worker_pool_size(settings))
    )
    providers = ProviderPool(settings)
    limits = ProviderLimits(
        concurrency=settings.runner.concurrency_per_provider,
        requests_per_minute=settings.runner.requests_per_minute,
        redis_url=settings.redis_url,
    )
    try:
        if is_sqlite(engine) and settings.environment == "development":
            await migrate.upgrade_embedded(engine, then=run_service.fill_round_metrics)
        else:
            await migrate.ensure_current(engine)
        session_factory = create_session_factory(engine)
        runner = Runner(
            session_factory=create_session_factory(worker_engine),
            providers=providers,
            limits=limits,
            retry_policy=RetryPolicy(max_attempts=settings.runner.max_attempts),
            on_progress=on_progress,
        )
        yield Runtime(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            providers=providers,
            runner=runner,
            executor=_executor(executor or settings.executor, settings, runner),
        )
    finally:
        await limits.aclose()
        await providers.aclose()
        await worker_engine.dispose()
        await engine.dispose()


def _executor(kind: Literal["local", "celery"], settings: Settings, runner: Runner) -> Executor:
    if kind == "local":
        return LocalExecutor(
            runner,
            chunks_per_vendor=chunks_per_vendor(
                settings.runner.concurrency_per_provider, settings.runner.chunk_size
            ),
            max_retries=settings.worker.max_retries,
        )
    from echo_ai.execution.celery_app import configure
    from echo_ai.execution.celery_executor import CeleryExecutor

    return CeleryExecutor(configure(settings), runner.session_factory)
