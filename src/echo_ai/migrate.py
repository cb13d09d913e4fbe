"""Apply Alembic migrations from code (``echo-ai migrate``, the embedded start, tests)."""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from echo_ai.errors import AppError


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "echo_ai:migrations")
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


DataStep = Callable[[AsyncSession], Awaitable[object]]
"""Data an upgrade to the latest schema must also fill, computed by application code (the
combined metrics of rounds finished before they were stored: ``runs.service.
fill_round_metrics``): passed in by the callers that migrate, since the schema's code
must not depend on the application's."""


async def upgrade(
    engine: AsyncEngine, revision: str = "head", *, then: DataStep | None = None
) -> None:
    """Upgrade the schema; at the latest revision, run ``then`` in the same transaction
    (it must be idempotent and cheap once done)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
        if revision == "head" and then is not None:
            async with AsyncSession(bind=connection, expire_on_commit=False) as session:
                await then(session)


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock between processes (two first runs must not both create tables).

    The wait happens in a thread, so coroutines of this process waiting for the same lock
    do not block the event loop that the holder needs to finish.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def upgrade_embedded(engine: AsyncEngine, *, then: DataStep | None = None) -> None:
    """Migrate the embedded SQLite file on open, one process at a time."""
    database = engine.url.database
    if not database or database == ":memory:":
        await upgrade(engine, then=then)
        return
    async with _file_lock(Path(database).with_name(Path(database).name + ".migrate-lock")):
        await upgrade(engine, then=then)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


def _current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def ensure_current(engine: AsyncEngine) -> None:
    """Refuse to work on a database whose schema is behind the code."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revisions)
    if current != heads:
        raise AppError(
            "the database schema does not match this version of echo-ai "
            f"(database {sorted(current) or 'empty'}, code {sorted(heads)}): "
            "run `echo-ai migrate` (or upgrade echo-ai if the database is newer)"
        )
