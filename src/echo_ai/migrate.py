"""Apply Alembic migrations from code (``echo-ai migrate``, the embedded start, tests).

Opening a runtime checks the schema on every command, so the check reads the database's
``alembic_version`` and compares it with :data:`HEAD`; Alembic (and every migration
script) is loaded only to migrate.
"""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from echo_ai.errors import AppError
from echo_ai.security.files import private_file

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

HEAD = "5b2e9c7a41d3"
"""The newest revision in ``migrations/versions``: a new migration must update it
(``tests/test_migrations.py`` compares it with Alembic's head)."""
VERSION_TABLE = "alembic_version"
"""Where Alembic records the revision a database is at (its default name)."""


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "echo_ai:migrations")
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


DataStep = Callable[["AsyncSession"], Awaitable[object]]
"""Data an upgrade to the latest schema must also fill, computed by application code (the
combined metrics of rounds finished before they were stored: ``runs.service.
fill_round_metrics``): passed in by the callers that migrate, since the schema's code
must not depend on the application's."""


async def upgrade(
    engine: AsyncEngine, revision: str = "head", *, then: DataStep | None = None
) -> None:
    """Upgrade the schema; at the latest revision, run ``then`` in the same transaction
    (it must be idempotent and cheap once done)."""
    async with _migrating(engine) as connection:
        await connection.run_sync(_upgrade, revision)
        if revision in ("head", HEAD) and then is not None:
            from sqlalchemy.ext.asyncio import AsyncSession

            async with AsyncSession(bind=connection, expire_on_commit=False) as session:
                await then(session)


@asynccontextmanager
async def _migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction for migrations, with SQLite's foreign keys off.

    SQLite alters a table by copying it and dropping the original (Alembic's batch mode),
    and with foreign keys on, that drop deletes every row that references the table in
    cascade: a change to ``batch_runs`` would empty ``iterations``. The switch only works
    outside a transaction, so it is made before it begins and undone after it ends, on
    the same connection (a pooled connection never keeps foreign keys off).
    """
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        try:
            async with connection.begin():
                yield connection
        finally:
            if sqlite:
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive lock between processes (two first runs must not both create tables).

    The wait happens in a thread, so coroutines of this process waiting for the same lock
    do not block the event loop that the holder needs to finish.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    private_file(path, create=True)  # owner-only, like the database beside it
    with path.open("a") as handle:
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def upgrade_embedded(engine: AsyncEngine, *, then: DataStep | None = None) -> None:
    """Migrate the embedded SQLite file on open, one process at a time, once per schema
    version: a database already at :data:`HEAD` is left alone without loading Alembic.

    The revision is read under the lock too: a first connection to a file another process
    is creating can fail ("database is locked") while that one switches it to WAL.
    """
    database = engine.url.database
    if not database or database == ":memory:":
        if await current_revisions(engine) != {HEAD}:
            await upgrade(engine, then=then)
        return
    async with _file_lock(Path(database).with_name(Path(database).name + ".migrate-lock")):
        if await current_revisions(engine) != {HEAD}:
            await upgrade(engine, then=then)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with _migrating(engine) as connection:
        await connection.run_sync(_downgrade, revision)


def _stored_revisions(connection: Connection) -> set[str]:
    if not inspect(connection).has_table(VERSION_TABLE):
        return set()
    return set(connection.scalars(text("SELECT version_num FROM alembic_version")))


async def current_revisions(engine: AsyncEngine) -> set[str]:
    """The revisions the database is at (empty for a database never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_stored_revisions)


async def ensure_current(engine: AsyncEngine) -> None:
    """Refuse to work on a database whose schema is behind the code."""
    current = await current_revisions(engine)
    if current != {HEAD}:
        raise AppError(
            "the database schema does not match this version of echo-ai "
            f"(database {sorted(current) or 'empty'}, code {[HEAD]}): "
            "run `echo-ai migrate` (or upgrade echo-ai if the database is newer)"
        )
