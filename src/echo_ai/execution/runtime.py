"""Wires settings, database, providers and the executor together for one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from echo_ai import migrate
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, is_in_memory, is_sqlite
from echo_ai.execution.executor import Executor, LocalExecutor, chunks_per_vendor
from echo_ai.execution.lease_keeper import LeaseKeeper
from echo_ai.execution.limits import ProviderLimits
from echo_ai.execution.providers import ProviderPool
from echo_ai.execution.runner import ProgressCallback, Runner
from echo_ai.providers.pricing import use_price_file
from echo_ai.providers.registry import VENDORS
from echo_ai.providers.retry import RetryPolicy
from echo_ai.runs import service as run_service
from echo_ai.security.keys import KeyRing

if TYPE_CHECKING:  # redis and celery only in production mode
    from echo_ai.execution.background import BackgroundJobs
    from echo_ai.execution.broker import QueuedChunks


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
    queued: QueuedChunks | None = None
    """In production mode (Celery): which batches have chunks waiting in the broker, for
    the scheduler's stalled-batch sweep and for resume (whatever this process's own
    executor is: the command line's resume runs batches here)."""
    background: BackgroundJobs | None = None
    """With the Celery executor, where mail and export jobs go: the workers
    (:class:`~echo_ai.execution.background.CeleryJobs`); without one, the process that
    queued them does them (the API's :func:`echo_ai.api.background.jobs_of`)."""

    @property
    def lease_ttl(self) -> timedelta:
        return self.runner.leases.ttl


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    on_progress: ProgressCallback | None = None,
    executor: Literal["local", "celery"] | None = None,
    keys: KeyRing | None = None,
) -> AsyncIterator[Runtime]:
    """Open the database, providers and an executor (``settings.executor`` unless given).

    The runner stores through an engine of its own, its pool sized to what it runs at once
    (:func:`worker_pool_size`): however large an experiment, requests keep the pool of
    ``settings.database`` to themselves (an in-memory database, which lives in one
    connection, is the exception). Only the embedded SQLite database of a development
    set-up is migrated on open; any other database must have been migrated first
    (``echo-ai migrate``). ``keys`` decrypt the provider keys workspaces store (the
    service passes the ring it loaded; without it, the ring is loaded from the settings when
    a workspace's key is first needed).
    """
    use_price_file(settings.prices_file)  # a price file that cannot be used stops start-up
    engine = create_engine(settings)
    worker_engine = (
        engine
        if is_in_memory(settings)
        else create_engine(settings, pool_size=worker_pool_size(settings))
    )
    providers = ProviderPool(settings, keys)
    queued = _queued_chunks(settings, executor)
    limits = ProviderLimits(
        concurrency=settings.runner.concurrency_per_provider,
        requests_per_minute=settings.runner.requests_per_minute,
        redis_url=settings.redis_url,
    )
    runner: Runner | None = None
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
            leases=LeaseKeeper(
                session_factory, ttl=timedelta(seconds=settings.worker.lease_seconds)
            ),
            retry_policy=RetryPolicy(max_attempts=settings.runner.max_attempts),
            on_progress=on_progress,
            budget_alert_share=settings.billing.budget_alert_share,
        )
        kind = executor or settings.executor
        yield Runtime(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            providers=providers,
            runner=runner,
            executor=_executor(kind, settings, runner, queued),
            queued=queued,
            background=_background(kind, settings),
        )
    finally:
        if runner is not None:
            await runner.aclose()
            runner.leases.close()
        if queued is not None:
            queued.close()
        await limits.aclose()
        await providers.aclose()
        await worker_engine.dispose()
        await engine.dispose()


def _queued_chunks(
    settings: Settings, executor: Literal["local", "celery"] | None
) -> QueuedChunks | None:
    if "celery" not in (settings.executor, executor) or settings.redis_url is None:
        return None
    from echo_ai.execution.broker import QueuedChunks

    return QueuedChunks.from_url(
        settings.redis_url, mark_seconds=settings.worker.visibility_timeout_seconds
    )


def _background(kind: Literal["local", "celery"], settings: Settings) -> BackgroundJobs | None:
    if kind == "local":
        return None
    from echo_ai.execution.background import CeleryJobs
    from echo_ai.execution.celery_app import configure

    return CeleryJobs(configure(settings))


def _executor(
    kind: Literal["local", "celery"],
    settings: Settings,
    runner: Runner,
    queued: QueuedChunks | None,
) -> Executor:
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

    return CeleryExecutor(configure(settings), runner.session_factory, queued)
