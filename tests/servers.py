"""The PostgreSQL and Redis servers the tests use, and scratch databases on them.

These machines run PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379 (override
with ``ECHO_AI_TEST_POSTGRES_URL`` and ``ECHO_AI_TEST_REDIS_URL``). Tests that need one
skip, with the reason shown, when it is not reachable.

The numbered Redis databases that test modules own (:func:`flushed_redis`) are those of a
``redis-server`` of the test process's own, started on a free port the first time one is
asked for (when ``redis-server`` is installed and ``ECHO_AI_TEST_REDIS_URL`` is not
set), and stopped when the process ends: two test runs at once on one machine (or the
processes of one run) never flush or take each other's data. Without it they are the
shared server's, one number per test process of a run.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis

from echo_ai import migrate
from echo_ai.config import Settings
from echo_ai.db import create_engine

POSTGRES_URL = os.environ.get(
    "ECHO_AI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("ECHO_AI_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


async def admin(sql: str) -> None:
    """Run one statement on the server's administrative database."""
    connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def postgres_unreachable() -> str | None:
    """Why the test server cannot be used, or None when it answers."""
    try:
        asyncio.run(admin("SELECT 1"))
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {error}"
    return None


async def _upgrade(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@contextmanager
def scratch_database(prefix: str, *, migrated: bool = True) -> Iterator[str]:
    """A new database named ``<prefix>_<random>`` (migrated unless told otherwise); its
    name while in use, dropped afterwards even if connections are still open."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        if migrated:
            asyncio.run(_upgrade(database_url(name)))
        yield name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def redis_unreachable(url: str = REDIS_URL) -> str | None:
    """Why the test Redis (or the one at ``url``) cannot be used, or None when it answers."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis not reachable at {url}: {error}"
    finally:
        client.close()
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def numbered_redis() -> str:
    """The Redis whose numbered databases this test process's modules own: a private
    ``redis-server`` (see the module's docstring), else the shared test server."""
    binary = shutil.which("redis-server")
    if "ECHO_AI_TEST_REDIS_URL" in os.environ or binary is None:
        return REDIS_URL
    directory = tempfile.mkdtemp(prefix="echo-ai-test-redis-")
    for _ in range(3):  # another process may take the free port first
        port = _free_port()
        process = subprocess.Popen(
            [
                *(binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory),
                *("--save", "", "--appendonly", "no", "--databases", "16"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"redis://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            if redis_unreachable(url) is None:
                atexit.register(_stop, process, directory)
                return url
            time.sleep(0.02)  # polls the server's start-up, bounded by the deadline
        _stop(process, directory)
    shutil.rmtree(directory, ignore_errors=True)
    return REDIS_URL


def _stop(process: subprocess.Popen[bytes], directory: str) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


def redis_database_url(number: int) -> str:
    """The URL of database ``number`` of this process's numbered Redis."""
    return urlsplit(numbered_redis())._replace(path=f"/{number}").geturl()


def per_test_process(numbers: tuple[int, ...]) -> int:
    """One of these Redis database numbers for this test process: processes running at
    once (pytest-xdist's ``gwN``) get different ones while there are enough."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or "0"
    return numbers[int(worker) % len(numbers)]


@contextmanager
def flushed_redis(number: int) -> Iterator[str]:
    """Redis database ``number`` (its URL), emptied before and after; the test is skipped
    when Redis is not reachable. Each test module that uses one owns its number."""
    reason = redis_unreachable(numbered_redis())
    if reason:
        pytest.skip(reason)
    url = redis_database_url(number)
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
