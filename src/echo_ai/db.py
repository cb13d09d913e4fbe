"""Database engine, sessions, the declarative base and the column types we share.

The engine of requests and use cases takes its pool from settings on both backends;
SQLite (the embedded default) also gets WAL, foreign keys and a busy timeout, and its
files are readable by their owner only; PostgreSQL gets pre-ping and recycling. The
in-process worker has an engine of its own with a pool sized to what it runs at once
(:func:`echo_ai.execution.runtime.open_runtime`), so a large experiment never takes the
connections that requests need. Work that a busy database only delays (a pool that had
no connection free in time, SQLite's write lock held too long) is retried with back-off
(:func:`retry_transient`) rather than failed.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    Enum,
    MetaData,
    Numeric,
    String,
    event,
    literal,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.sql.dml import Delete, Update
from sqlalchemy.types import DateTime, TypeDecorator

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.config import Settings
from echo_ai.security.files import private_directory, private_file

log = logging.getLogger(__name__)

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """USD amounts as exact decimals: NUMERIC on PostgreSQL, text on SQLite (no floats)."""

    impl = Numeric(18, 8)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 8))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


JSONType = JSON().with_variant(JSONB(), "postgresql")


def str_enum(enum_type: type[enum.StrEnum]) -> Enum:
    """A string enum stored as its values in a VARCHAR (no database enum type to migrate)."""
    return Enum(
        enum_type,
        native_enum=False,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def keyset_after(
    columns: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]],
    last: Sequence[Any],
    *,
    descending: bool = False,
) -> ColumnElement[bool]:
    """Rows after ``last`` in a listing ordered by ``columns`` (all ascending or all
    descending): keyset pagination.

    Written as one row-value comparison, ``(a, b) > (x, y)``, which PostgreSQL and SQLite
    both use as the start of an index range scan (the equivalent ``a > x OR (a = x AND
    b > y)`` is often checked as a filter instead). The values are bound with their
    column's type (a UTC timestamp stays one on SQLite).
    """
    values = [literal(value, column.type) for column, value in zip(columns, last, strict=True)]
    row = tuple_(*columns)
    return row < tuple_(*values) if descending else row > tuple_(*values)


SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite connection waits for the write lock before "database is locked"."""


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Deleted and overwritten content is zeroed, not left in free space for whoever
        # reads the file (an erased account's address, a redacted answer).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database (write-ahead log, its shared-memory index, the
rollback journal): they hold the same data as the database."""


def _private_sqlite_files(settings: Settings, url: str) -> None:
    """The data directory 0700 and the database file 0600 before SQLite first opens it
    (SQLite gives the companions the database's mode); files of an older installation,
    or companions a crash left, restricted (see :mod:`echo_ai.security.files`)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    private_directory(settings.data_dir)
    path = Path(database)
    private_file(path, create=True)
    for suffix in SQLITE_COMPANIONS:
        private_file(path.with_name(path.name + suffix))


def is_in_memory(settings: Settings) -> bool:
    """An in-memory SQLite database: it lives in its engine's one connection, so the
    process must not open a second engine on it."""
    return ":memory:" in settings.resolved_database_url


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    """The engine of ``settings``' database, its pool from ``settings.database`` (on SQLite
    too: every connection is a thread of its own, and the process needs as many as it has
    requests and batches at once), or of exactly ``pool_size`` connections.

    Its errors and echo never show the values bound to a statement (``hide_parameters``):
    they are addresses, password hashes, tokens and answers, which logs must not keep."""
    url = settings.resolved_database_url
    db = settings.database
    pool: dict[str, Any] = {
        "pool_size": db.pool_size if pool_size is None else pool_size,
        "max_overflow": db.max_overflow if pool_size is None else 0,
        "pool_timeout": db.pool_timeout_seconds,
    }
    if url.startswith("sqlite"):
        if is_in_memory(settings):  # one static connection: no pool to size
            pool = {}
        _private_sqlite_files(settings, url)
        engine = create_async_engine(url, echo=db.echo, hide_parameters=True, **pool)
        _configure_sqlite(engine)
    else:
        engine = create_async_engine(
            url,
            echo=db.echo,
            hide_parameters=True,
            pool_recycle=db.pool_recycle_seconds,
            pool_pre_ping=db.pool_pre_ping,
            **pool,
        )
    _hide_error_details(engine)
    return engine


def _hide_error_details(engine: AsyncEngine) -> None:
    """Drop the ``DETAIL`` of the server's errors (PostgreSQL's ``Key (email)=(...) already
    exists``, ``Failing row contains (...)``): it quotes the values, which
    ``hide_parameters`` keeps out of the rest of the error."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _drop_detail(context: ExceptionContext) -> None:
        error: BaseException | None = context.original_exception
        while error is not None:
            if getattr(error, "detail", None):
                error.detail = None  # type: ignore[attr-defined]
            error = error.__cause__


_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")

TRANSIENT_RETRY_SECONDS = 300.0
"""How long :func:`retry_transient` keeps trying (summed back-off) before it gives up."""
_FIRST_DELAY_SECONDS = 0.05
_LONGEST_DELAY_SECONDS = 5.0


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` says the database was busy or briefly unreachable, so the same
    work may succeed when tried again: no connection free in the pool in time, SQLite's
    write lock held past the busy timeout, a dropped connection."""
    if isinstance(error, PoolTimeout | ConnectionError):
        return True
    if isinstance(error, OperationalError):
        text = str(error.orig).lower()
        if any(message in text for message in _BUSY_MESSAGES):
            return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


async def retry_transient(
    work: Callable[[], Awaitable[T]], *, what: str, clock: Clock = SYSTEM_CLOCK
) -> T:
    """``await work()``, again after a growing pause whenever it fails on a busy or briefly
    unreachable database (:func:`is_transient`), for up to :data:`TRANSIENT_RETRY_SECONDS`
    of pauses. ``work`` must open its own transaction: each try starts afresh.

    Any other error, or the last transient one, is raised to the caller.
    """
    delay, waited = _FIRST_DELAY_SECONDS, 0.0
    while True:
        try:
            return await work()
        except Exception as error:
            if not is_transient(error) or waited >= TRANSIENT_RETRY_SECONDS:
                raise
            first_line = (str(error).strip().splitlines() or [""])[0]
            log.warning(
                "%s: database busy or unreachable (%s: %s); retrying in %.2f s",
                what,
                type(error).__name__,
                first_line,
                delay,
            )
            await clock.sleep(delay)
            waited += delay
            delay = min(delay * 2, _LONGEST_DELAY_SECONDS)


def dialect_insert(session: AsyncSession) -> Any:
    """``insert`` of the session's database (PostgreSQL's or SQLite's): the one with
    ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def truncate_wal(engine: AsyncEngine) -> bool:
    """On SQLite, copy the write-ahead log into the database and empty it (``PRAGMA
    wal_checkpoint(TRUNCATE)``), so that the ``-wal`` file no longer holds the older
    versions of pages; whether it completed (a reader still on an older snapshot keeps
    its frames: ``False``). Nothing to do on other databases (``True``)."""
    if not is_sqlite(engine):
        return True
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        row = result.one()
    busy = int(row[0])
    if busy:
        log.warning("the SQLite write-ahead log could not be emptied: a reader was busy")
    return not busy


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed on success and rolled back on error; once it has
    committed, the jobs queued with :func:`after_commit` run (awaited, in order)."""
    async with session_factory() as session:
        async with session.begin():
            yield session
        jobs = take_after_commit(session)
    for job in jobs:  # with the session closed: the jobs open their own
        await job.run()


AfterCommit = Callable[[], Coroutine[Any, Any, None]]
_AFTER_COMMIT = "echo_ai.after_commit"


@dataclass(frozen=True)
class QueuedJob:
    run: AfterCommit
    finish: bool = False
    """Let it finish when the service stops instead of cancelling it: short work the
    caller was promised (a mailed link) that nothing would otherwise resume."""


def after_commit(session: AsyncSession, job: AfterCommit, *, finish: bool = False) -> None:
    """Run ``job`` once this session's transaction has committed (the boundary that owns
    the transaction does it: the API's request session starts it in the background, after
    which the response is sent; :func:`transaction` awaits it). With ``finish``, a service
    that stops lets it finish (for a while) rather than cancel it.

    Work is never started for rows a rollback would take back: a rolled-back transaction
    drops its jobs.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(QueuedJob(job, finish))


def take_after_commit(session: AsyncSession) -> list[QueuedJob]:
    """The jobs queued by :func:`after_commit` (to start now that the commit is done)."""
    jobs: list[QueuedJob] = session.info.pop(_AFTER_COMMIT, [])
    return jobs


async def rows_changed(session: AsyncSession, statement: Update | Delete) -> int:
    """Run an UPDATE or DELETE (the session's objects are not synchronised) and return how
    many rows it changed. A conditional UPDATE that changed exactly one row is a won
    compare-and-set: how claims and status changes avoid read-modify-write races."""
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
