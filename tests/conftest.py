"""Shared fixtures: settings in a temporary data directory, and a migrated database.

Storage tests run on SQLite and on PostgreSQL; PostgreSQL is the server these machines
run at 127.0.0.1:5432 (override with ECHO_AI_TEST_POSTGRES_URL). When it is not reachable,
those tests are skipped with the reason shown.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings

from echo_ai.app import create_app
from echo_ai.config import PlanLimits, Settings, get_settings
from echo_ai.db import create_engine
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.models import Base
from echo_ai.security import passwords
from echo_ai.testing.fake_llm import FakeLLMServer
from tests import route_cache, schema_cases
from tests.live import LiveServer, http_client, serving
from tests.servers import database_url, postgres_unreachable, scratch_database

# Property tests check behaviour, not speed: no per-example deadline (a busy machine
# would fail them), and the same examples on every run (a failure reproduces).
hypothesis_settings.register_profile("echo-ai", deadline=None, derandomize=True)
hypothesis_settings.load_profile("echo-ai")

# Sign-ups and sign-ins in this process hash at a cheap Argon2id cost (a test-only knob
# that only a pytest run may turn, see echo_ai.security.passwords): at the production cost
# the thousands of them took a tenth of the API tests' time. tests/security/
# test_passwords.py tests the production cost; `echo-ai` processes the tests start keep it.
passwords.use_testing_cost()

# FastAPI builds an app's route handlers on its first request, for that app alone; the
# suite makes an app per test and built them for each: once per test process now
# (see tests/route_cache.py).
route_cache.install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` run first (in their usual order), the rest after them (in
    theirs). pytest-xdist hands tests out in this order: the long ones start while many
    short ones are still to come, which keep the other workers busy meanwhile, instead of
    one long test started near the end running alone while the other cores wait."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """A schemathesis test gets its coverage-phase cases now, in the process that runs
    it, rather than in every process at collection (see tests/schema_cases.py)."""
    schema_cases.attach(item)
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Captured output can hold text that UTF-8 cannot encode (a vendor's lone surrogate
    quoted by an SDK's exception in a logged traceback); pytest-xdist could not send such
    a report from its worker and would stop the run, so it is escaped before it goes."""
    report.sections = [
        (title, content.encode("utf-8", "backslashreplace").decode("utf-8"))
        for title, content in report.sections
    ]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A scratch database on the PostgreSQL server, migrated once, dropped at the end."""
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    with scratch_database("echo_ai_test") as name:
        yield database_url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The embedded database as a fresh start migrates it, made once per test process:
    each test's SQLite database starts as a copy (migrating hundreds of empty databases
    took a tenth of the suite's time)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("template") / "data")

    async def migrate_once() -> None:
        async with open_runtime(settings):
            pass

    asyncio.run(migrate_once())
    return (settings.data_dir / "echo-ai.db").read_bytes()


def _start_from(template: bytes, data_dir: Path) -> None:
    """A private data directory holding a copy of the migrated database (modes as the
    service makes them)."""
    data_dir.mkdir(mode=0o700)
    descriptor = os.open(data_dir / "echo-ai.db", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as database:
        database.write(template)


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """SQLite in a temporary directory (a copy of the migrated database), or the
    PostgreSQL scratch database when the test is parametrised with ``backend`` (emptied
    again after the test)."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else "sqlite"
    url = request.getfixturevalue("postgres_database") if backend == "postgresql" else None
    settings = Settings(data_dir=tmp_path / "data", database_url=url)
    # Tests build teams of every role and schedule several experiments in one free
    # workspace: the free plan's member, schedule and monthly figures are raised here, and
    # the tests of those quotas set the figures they test (tests/billing/test_quotas.py).
    settings.billing.free = PlanLimits(
        members=1_000, scheduled_experiments=1_000, iterations_per_month=10_000_000
    )
    if url is None:
        _start_from(request.getfixturevalue("migrated_sqlite"), settings.data_dir)
    yield settings
    if url is not None:
        asyncio.run(_empty(settings))


async def _empty(settings: Settings) -> None:
    """Every table emptied, children before parents, in one transaction. DELETE, not
    TRUNCATE: on tables holding a test's few rows it takes tens of milliseconds, where a
    TRUNCATE of every table (new files for each, and their sync) took half a second to
    over a second after each PostgreSQL test."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings) as opened:
        yield opened


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Environment for in-process CLI runs: a fresh data dir, no vendor keys."""
    data_dir = tmp_path / "cli-data"
    monkeypatch.setenv("ECHO_AI_DATA_DIR", str(data_dir))
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")) or name == "DATABASE_URL":
            monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def _fake_llm_session() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(_fake_llm_session: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The running fake LLM server with a default config, an empty script and no request log.

    Tests change ``fake_llm.config`` (rates, ``script``, brands...) freely; the next test
    starts clean again. When the test ends, the server goes back to its default config
    and the requests still stalled (``hang_rate``) answer: an app stopping after that (a
    test that took ``fake_llm`` after ``client`` or ``http``) would otherwise give its
    batches' hanging calls the whole 10 s it lets them end in before cancelling them.
    """
    _fake_llm_session.reset()
    yield _fake_llm_session
    _fake_llm_session.reset()
    _fake_llm_session.release_stalled()


@pytest.fixture
def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """A fresh app (not started). Tests may add test-only routes before using ``client``."""
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return create_app(settings)


@pytest.fixture
async def started_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(started_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: a 500 is asserted on like any response.
    transport = httpx.ASGITransport(app=started_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The test's app served over a real socket (see :mod:`tests.live`)."""
    with serving(app) as server:
        yield server


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A synchronous HTTP client of :func:`live_server`."""
    with http_client(live_server) as client:
        yield client
