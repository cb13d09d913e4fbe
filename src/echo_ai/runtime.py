"""Wires settings, database, providers and the executor together for one process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from echo_ai import migrate
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, is_sqlite
from echo_ai.providers.retry import RetryPolicy
from echo_ai.runs.executor import LocalExecutor
from echo_ai.runs.limits import ProviderLimits
from echo_ai.runs.providers import ProviderPool
from echo_ai.runs.runner import ProgressCallback, Runner


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    providers: ProviderPool
    runner: Runner
    executor: LocalExecutor


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, on_progress: ProgressCallback | None = None
) -> AsyncIterator[Runtime]:
    """The embedded SQLite database is migrated on open; PostgreSQL must be migrated first."""
    engine = create_engine(settings)
    providers = ProviderPool(settings)
    try:
        if is_sqlite(engine):
            await migrate.upgrade_embedded(engine)
        else:
            await migrate.ensure_current(engine)
        session_factory = create_session_factory(engine)
        runner = Runner(
            session_factory=session_factory,
            providers=providers,
            limits=ProviderLimits(
                concurrency=settings.runner.concurrency_per_provider,
                requests_per_minute=settings.runner.requests_per_minute,
            ),
            retry_policy=RetryPolicy(max_attempts=settings.runner.max_attempts),
            on_progress=on_progress,
        )
        yield Runtime(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            providers=providers,
            runner=runner,
            executor=LocalExecutor(runner),
        )
    finally:
        await providers.aclose()
        await engine.dispose()
