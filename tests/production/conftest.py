"""Fixtures for the production-mode fault tests: real `echo-ai worker` / `echo-ai beat`
processes against PostgreSQL and Redis.

Each test module gets its own scratch PostgreSQL database (created, migrated, dropped)
and each test a dedicated, flushed Redis database number (``BROKER_DB``), so these tests
never disturb the rest of the suite. Every process a test starts is killed (with its
whole process group) when the test ends. When PostgreSQL or Redis is not reachable the
tests are skipped with the reason shown.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from celery import Celery

from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.execution.celery_app import QUEUE, configure
from echo_ai.execution.celery_executor import CeleryExecutor
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.testing.fake_llm import FakeLLMServer
from tests import servers
from tests.factories import experiment_input
from tests.servers import database_url

_BROKER_DBS = (11, 12, 15)
BROKER_DB = _BROKER_DBS[int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw")) % 3]
"""The Redis database these tests own (flushed before and after each test): one per test
process when ``./dev test`` runs them in several (pytest-xdist), since a worker started by
one process would otherwise take the chunks queued by another."""
PROVIDER = "openai:gpt-4o-mini"
"""Served by the fake LLM (``OPENAI_BASE_URL``)."""

LEASE_SECONDS = 4
"""The processes' lease TTL here (renewed every second), below ``stalled_after`` (10 s)."""

# Short limits so that recovery happens within seconds (the settings' minimums):
# soft < hard < visibility, and soft > runner timeout x attempts (2 s x 2).
WORKER_ENV = {
    "ECHO_AI_EXECUTOR": "celery",
    "ECHO_AI_WORKER__CHUNK_SOFT_TIME_LIMIT_SECONDS": "10",
    "ECHO_AI_WORKER__CHUNK_TIME_LIMIT_SECONDS": "11",
    "ECHO_AI_WORKER__VISIBILITY_TIMEOUT_SECONDS": "12",
    "ECHO_AI_WORKER__STALLED_AFTER_SECONDS": "10",
    "ECHO_AI_WORKER__LEASE_SECONDS": str(LEASE_SECONDS),
    "ECHO_AI_WORKER__BEAT_INTERVAL_SECONDS": "0.5",
    "ECHO_AI_RUNNER__TIMEOUT_SECONDS": "2",
    "ECHO_AI_RUNNER__MAX_ATTEMPTS": "2",
    "ECHO_AI_OBSERVABILITY__LOG_LEVEL": "INFO",
    "ECHO_AI_OBSERVABILITY__LOG_FORMAT": "console",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(
    condition: Callable[[], Awaitable[bool]], *, within: float, what: str, every: float = 0.1
) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(every)


# --- PostgreSQL ------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch_database() -> Iterator[str]:
    """A migrated scratch database for this module (postgresql:// URL), dropped after."""
    reason = servers.postgres_unreachable()
    if reason:
        pytest.skip(reason)
    reason = servers.redis_unreachable()
    if reason:
        pytest.skip(reason)
    with servers.scratch_database("echo_ai_prod") as name:
        yield database_url(name)


@dataclass
class Database:
    """Reads (and faults) on the scratch database, through a direct asyncpg connection."""

    url: str
    name: str

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[asyncpg.Connection]:
        connection = await asyncpg.connect(self.url, timeout=5)
        try:
            yield connection
        finally:
            await connection.close()

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record:
        async with self.connect() as connection:
            row = await connection.fetchrow(sql, *args)
        assert row is not None
        return row

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connect() as connection:
            return list(await connection.fetch(sql, *args))

    async def stored(self, batch_id: uuid.UUID) -> int:
        row = await self.fetchrow(
            "SELECT count(*) FROM iterations WHERE batch_run_id = $1", batch_id
        )
        return int(row[0])

    async def iteration_counts(self, batch_id: uuid.UUID) -> tuple[int, int]:
        """(rows, distinct indices) stored for the batch."""
        row = await self.fetchrow(
            'SELECT count(*), count(DISTINCT "index") FROM iterations WHERE batch_run_id = $1',
            batch_id,
        )
        return int(row[0]), int(row[1])

    async def batch(self, batch_id: uuid.UUID) -> asyncpg.Record:
        return await self.fetchrow("SELECT * FROM batch_runs WHERE id = $1", batch_id)

    async def finished(self, batch_id: uuid.UUID) -> bool:
        status = (await self.batch(batch_id))["status"]
        return str(status) in {"completed", "failed", "cancelled"}

    async def terminate_backends(self) -> int:
        """``pg_terminate_backend`` every other connection to the scratch database."""
        async with self.connect() as connection:
            rows = await connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.name,
            )
        return sum(1 for row in rows if row[0])


@pytest.fixture
def database(scratch_database: str) -> Database:
    return Database(url=scratch_database, name=scratch_database.rsplit("/", 1)[1])


# --- Redis -------------------------------------------------------------------------


@pytest.fixture
def broker_url(scratch_database: str) -> Iterator[str]:
    """The shared Redis server's ``BROKER_DB``, empty before and after the test."""
    with servers.flushed_redis(BROKER_DB) as url:
        yield url


@dataclass
class RedisServer:
    """A redis-server of our own, on a free port, that a test may stop and start again."""

    directory: Path
    persistent: bool
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        durability = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                *durability,
            ],
            stdout=(self.directory / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.directory / "redis.log").read_text(errors="replace")
                pytest.fail(f"redis-server did not start on port {self.port}:\n{log[-2000:]}")
            time.sleep(0.05)

    def restart(self) -> None:
        """Shut down cleanly (SHUTDOWN, as a service manager's stop would), start again."""
        assert self.process is not None
        with suppress(redis.ConnectionError):  # the server closes it as it exits
            self.client().shutdown(nosave=not self.persistent)
        self.process.wait(timeout=10)
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path, scratch_database: str) -> Iterator[Callable[..., RedisServer]]:
    """Start a redis-server of our own: ``own_redis(persistent=True)``."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    servers: list[RedisServer] = []

    def start(*, persistent: bool) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = RedisServer(directory=directory, persistent=persistent)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


# --- Processes ---------------------------------------------------------------------


@dataclass
class Cluster:
    """Starts `echo-ai worker` / `echo-ai beat` processes, each in its own process group."""

    database_url: str
    redis_url: str
    directory: Path
    fake_llm: FakeLLMServer
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("ECHO_AI_")
            and not name.endswith(("_API_KEY", "_BASE_URL", "_API_KEY_FILE"))
            and name not in {"DATABASE_URL", "REDIS_URL"}
        }
        env.update(WORKER_ENV)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "ECHO_AI_SECRET_KEY": secrets.token_urlsafe(36),
                "ECHO_AI_DATA_DIR": str(self.directory / "data"),
                "OPENAI_BASE_URL": f"{self.fake_llm.base_url}/v1",
                "OPENAI_API_KEY": "test",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def start(self, command: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        name = f"{command}-{len(self.processes)}"
        log = self.directory / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "echo_ai.cli", command, *args],
            env=self.env(**env),
            cwd=self.directory,  # no project .env is read
            stdin=subprocess.DEVNULL,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches its children
        )
        self.processes.append((name, process, log))
        return process

    def worker(self, concurrency: int = 2, **env: str) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", str(concurrency), **env)

    def beat(self, **env: str) -> subprocess.Popen[bytes]:
        return self.start("beat", **env)

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """``kill -9`` the process and every process of its group (the pool children)."""
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def check_alive(self) -> None:
        """Fail with its log if a process we still expect to run has exited."""
        for name, process, log in self.processes:
            if process.returncode is None and process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{self.tail(log)}")

    @staticmethod
    def tail(log: Path, chars: int = 4000) -> str:
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.tail(log)}" for name, _, log in self.processes)

    def stop_all(self) -> None:
        """Kill every process we started, with its group: nothing a test leaves (an
        unacknowledged chunk, a half-done tick) outlives its scratch database and broker."""
        for _, process, _ in self.processes:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for _, process, _ in self.processes:
            process.wait(timeout=10)


@pytest.fixture
def make_cluster(
    scratch_database: str, tmp_path: Path, fake_llm: FakeLLMServer, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(redis_url)``: a process starter whose processes end with the test
    (their logs are printed when the test failed)."""
    clusters: list[Cluster] = []

    def make(redis_url: str, **extra_env: str) -> Cluster:
        directory = tmp_path / f"cluster-{len(clusters)}"
        (directory / "data").mkdir(parents=True)
        cluster = Cluster(
            database_url=scratch_database,
            redis_url=redis_url,
            directory=directory,
            fake_llm=fake_llm,
            extra_env=extra_env,
        )
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for cluster in clusters:
            print(cluster.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


@pytest.fixture
def cluster(make_cluster: Callable[..., Cluster], broker_url: str) -> Cluster:
    """Processes on the shared Redis server's test database."""
    return make_cluster(broker_url)


# --- The test process's side: experiments and dispatch ------------------------------


def client_settings(database_url: str, redis_url: str) -> Settings:
    """Settings of the test process (the API's side): it creates experiments and sends
    their chunks to the broker, like `echo-ai api` does."""
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        executor="celery",
        worker={
            "chunk_soft_time_limit_seconds": 10,
            "chunk_time_limit_seconds": 11,
            "visibility_timeout_seconds": 12,
            "stalled_after_seconds": 10,
            "lease_seconds": LEASE_SECONDS,
        },
        runner={"timeout_seconds": 2, "max_attempts": 2},
    )


@dataclass
class Client:
    runtime: Runtime
    executor: CeleryExecutor

    async def create(
        self, *, iterations: int, chunk_size: int, dispatch: bool = True, **overrides: Any
    ) -> uuid.UUID:
        """Create an experiment on the fake LLM (its first run queued) and send its chunks;
        the experiment's id."""
        data = experiment_input(providers=[PROVIDER], iterations=iterations, **overrides)
        async with transaction(self.runtime.session_factory) as session:
            created = await experiment_service.create(session, data, chunk_size=chunk_size)
        if dispatch:
            await self.executor.run_experiment(created.id)
        return created.id


@asynccontextmanager
async def open_client(database_url: str, redis_url: str) -> AsyncIterator[Client]:
    """A runtime on the scratch database and a Celery executor on its own Celery app (the
    global app may already point at another test's broker)."""
    settings = client_settings(database_url, redis_url)
    app = configure(settings, Celery("echo_ai_tests"))
    try:
        async with open_runtime(settings, executor="local") as runtime:
            yield Client(runtime, CeleryExecutor(app, runtime.session_factory))
    finally:
        app.close()


async def batch_of(database: Database, experiment_id: uuid.UUID, round_: int = 1) -> uuid.UUID:
    rows = await database.fetch(
        'SELECT id FROM batch_runs WHERE experiment_id = $1 AND "round" = $2',
        experiment_id,
        round_,
    )
    assert len(rows) == 1, rows
    return uuid.UUID(str(rows[0]["id"]))


def queue_length(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.llen(QUEUE))
    finally:
        client.close()


def past(minutes: int = 1) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)
