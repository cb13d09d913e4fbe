"""Read-path benchmark: the JSON API on PostgreSQL at 1,000, 100,000 (and 1,000,000) iterations.

Runs `echo-ai api` (production environment, local executor) against a scratch PostgreSQL
database and measures what a reader touches as the data grows, each figure as a ratio to
a baseline measured in the same run (the machines are noisy):

(a) ``GET /v1/experiments/{id}``: p50/p95 at 100,000 iterations against 1,000 (target
    p95 ratio <= 2), and the absolute p95 at the largest size;
(b) ``GET .../export.csv`` of 100,000 iterations: time to the first byte of the body
    (target < 1 s), growth of the API process's resident memory during the export
    (VmRSS of the process and its children, sampled every 10 ms; target < 150 MB), total
    time;
(c) ``GET .../iterations``: a page whose cursor points near index 99,900 of the
    100,000-iteration batch (999,900 with ``--large``) against page 1 (target median
    ratio <= 1.5);
(d) ``/health`` while a detail request of the largest experiment is in flight, against
    ``/health`` idle: whether that request blocks the event loop (target: worst < 250 ms).

Seeding: a real 1,000-iteration experiment with the offline ``demo`` provider runs
through the API; each larger one is created through the API with a few iterations, run
to completion, and its batch then extended in SQL to N iterations by copying the
1,000-iteration batch's rows (see :func:`extend_batch`). ``ANALYZE`` follows, as
autovacuum would do on a settled database.

The scratch database (``echo_ai_bench_*``) is created and dropped; PostgreSQL at
127.0.0.1:5432 (user postgres) is needed, and the run says it skipped without it. The
default run (1k and 100k) takes a few minutes; ``--large`` adds 1,000,000 iterations
(about 1.5 GB of rows, and with a read path that scans iterations, minutes per detail
request and gigabytes of API memory). Exit status 0 whatever the figures, unless
``--check`` (then 1 when a target is missed).

    uv run python bench/bench_read_path.py [--large] [--check] [--requests 30]
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench_celery import _admin, scratch_database
from echo_ai import aio
from echo_ai.api.pagination import encode_cursor

SMALL = 1_000
MEDIUM = 100_000
LARGE = 1_000_000
CLONE_SEED_ITERATIONS = 10
"""Iterations of a larger experiment's own run, before its batch is extended in SQL."""
DEEP_FROM_END = 100
"""The deep iterations page starts this many rows before the end of the batch."""
PAGE_SIZE = 50

DETAIL_RATIO_TARGET = 2.0
FIRST_BYTE_TARGET_S = 1.0
EXPORT_MEMORY_TARGET_MB = 150.0
PAGE_RATIO_TARGET = 1.5
HEALTH_WORST_TARGET_S = 0.25
SLOW_DETAIL_S = 5.0
"""A detail request slower than this: take fewer samples (within SLOW_DETAIL_BUDGET_S)."""
SLOW_DETAIL_BUDGET_S = 45.0
"""A detail request slower than this (1M iterations before issue 8): one sample only."""

PASSWORD = "correct horse battery staple"
EXPERIMENT = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [
            {"name": "Salesforce"},
            {"name": "Pipedrive"},
            {"name": "Zoho CRM", "aliases": ["Zoho"]},
            {"name": "Freshsales"},
        ],
    },
    "providers": ["demo"],
}


# --- services: scratch database, API process, resident memory ------------------------------


def api_environment(database_url: str, data_dir: Path) -> dict[str, str]:
    """What `echo-ai migrate` and `echo-ai api` run with: production, batches run in the
    API process (no Redis), a workspace API limit high enough not to be what is measured."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ECHO_AI_") and key not in {"REDIS_URL", "DATABASE_URL"}
    }
    env.update(
        DATABASE_URL=database_url,
        ECHO_AI_ENVIRONMENT="production",
        ECHO_AI_SECRET_KEY=secrets.token_urlsafe(48),
        ECHO_AI_EXECUTOR="local",
        ECHO_AI_DATA_DIR=str(data_dir),
        ECHO_AI_SERVER__WORKSPACE_REQUESTS_PER_MINUTE="1000000",
        ECHO_AI_OBSERVABILITY__LOG_LEVEL="WARNING",
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`echo-ai api` on a free local port until exit. Yields its base URL and pid."""
    with server_process(["api", "--host", "127.0.0.1"], env, log, start_within=60) as served:
        yield served


@contextmanager
def server_process(
    args: list[str], env: dict[str, str], log: Path, *, start_within: float
) -> Iterator[tuple[str, int]]:
    """`echo-ai ARGS --port P` on a free local port, once its /health answers, until exit
    (its output in ``log``). Yields its base URL and pid."""
    name = f"echo-ai {args[0]}"
    port = free_port()
    command = [sys.executable, "-m", "echo_ai.cli", *args]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_within
        while True:
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"`{name}` did not start:\n{tail}")
            time.sleep(0.2)
        yield base_url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_descendants(int(child)))
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of the process and its children (VmRSS from /proc)."""
    total = 0
    for each in _descendants(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


@dataclass
class MemoryWatch:
    """Samples the resident memory of ``pid`` in a thread: its value at the start, its peak."""

    pid: int
    interval: float = 0.01
    start: int = 0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> MemoryWatch:
        self.start = self.peak = rss_bytes(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 1e6


# --- seeding: experiments through the API, larger batches extended in SQL ------------------


def sign_up(base_url: str) -> str:
    """Register a user, log in, create an API key; the key."""
    email = f"bench-{secrets.token_hex(4)}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    with httpx.Client(base_url=base_url, timeout=30) as anonymous:
        anonymous.post(
            "/auth/register", json={**credentials, "accept_terms": True}
        ).raise_for_status()
        login = anonymous.post("/auth/login", json=credentials)
        login.raise_for_status()
        token = login.json()["access_token"]
        created = anonymous.post(
            "/v1/api-keys",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {token}"},
        )
        created.raise_for_status()
    key: str = created.json()["key"]
    return key


def api_client(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(900.0, connect=10.0),
    )


def run_experiment(client: httpx.Client, iterations: int, name: str) -> dict[str, Any]:
    """Create a demo experiment through the API and wait for it; its final detail."""
    created = client.post(
        "/v1/experiments", json={**EXPERIMENT, "name": name, "iterations": iterations}
    )
    created.raise_for_status()
    experiment_id = created.json()["id"]
    deadline = time.monotonic() + 300
    while True:
        detail = client.get(f"/v1/experiments/{experiment_id}")
        detail.raise_for_status()
        body: dict[str, Any] = detail.json()
        if body["status"] == "completed":
            return body
        if body["status"] in {"partial", "failed", "cancelled"} or time.monotonic() > deadline:
            raise RuntimeError(f"experiment {name} ended {body['status']}: {body['providers']}")
        time.sleep(0.2)


async def _columns(connection: asyncpg.Connection, table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return [row["column_name"] for row in rows]


ITERATION_KEY = ("id", "batch_run_id", "index")
"""Columns of an iteration row made for the copy; every other column is copied as is."""
BATCH_KEPT = (
    "id",
    "experiment_id",
    "round",
    "provider",
    "model",
    "status",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
)
"""Columns of the extended batch that stay its own; the others (metrics and whatever the
schema adds) are copied from the source batch, then :data:`counters` set."""


def counters(size: int, succeeded: int) -> dict[str, int]:
    """The extended batch's counters. Add a column here when the batch row gains one."""
    return {"iterations_requested": size, "succeeded": succeeded, "failed": size - succeeded}


async def extend_batch(
    database_url: str, *, source: uuid.UUID, target: uuid.UUID, size: int, step: int = 100_000
) -> None:
    """Make ``target`` a batch of ``size`` iterations: copies of ``source``'s rows (index
    ``i`` copies ``i mod len(source)``), with every column of the schema, in steps of
    ``step`` rows. Values do not matter for read timing; only the row count does."""
    connection = await asyncpg.connect(database_url)
    try:
        source_size = await connection.fetchval(
            "SELECT count(*) FROM iterations WHERE batch_run_id = $1", source
        )
        copied = [c for c in await _columns(connection, "iterations") if c not in ITERATION_KEY]
        names = ", ".join(f'"{c}"' for c in copied)
        values = ", ".join(f'src."{c}"' for c in copied)
        insert = (
            f'INSERT INTO iterations (id, batch_run_id, "index", {names}) '
            f"SELECT gen_random_uuid(), $1, g.n, {values} "
            "FROM generate_series($2::int, $3::int) AS g(n) "
            'JOIN iterations AS src ON src.batch_run_id = $4 AND src."index" = g.n % $5'
        )
        await connection.execute("DELETE FROM iterations WHERE batch_run_id = $1", target)
        for low in range(0, size, step):
            high = min(size, low + step) - 1
            await connection.execute(insert, target, low, high, source, source_size)

        batch_columns = [c for c in await _columns(connection, "batch_runs") if c not in BATCH_KEPT]
        assignments = ", ".join(f'"{c}" = src."{c}"' for c in batch_columns)
        await connection.execute(
            f"UPDATE batch_runs SET {assignments} FROM batch_runs AS src "
            "WHERE batch_runs.id = $1 AND src.id = $2",
            target,
            source,
        )
        succeeded = await connection.fetchval(
            "SELECT count(*) FROM iterations WHERE batch_run_id = $1 AND success", target
        )
        values_of = counters(size, succeeded)
        await connection.execute(
            "UPDATE batch_runs SET "
            + ", ".join(f'"{c}" = ${i + 2}' for i, c in enumerate(values_of))
            + " WHERE id = $1",
            target,
            *values_of.values(),
        )
        await connection.execute(
            "UPDATE experiments SET iterations = $2 "
            "WHERE id = (SELECT experiment_id FROM batch_runs WHERE id = $1)",
            target,
            size,
        )
        await connection.execute("ANALYZE iterations")
        await connection.execute("ANALYZE batch_runs")
    finally:
        await connection.close()


@dataclass(frozen=True)
class Seeded:
    size: int
    experiment_id: str
    batch_id: str


def seed(client: httpx.Client, database_url: str, sizes: list[int]) -> dict[int, Seeded]:
    """A real SMALL-iteration run, then each larger size as an extended copy of it."""
    seeded: dict[int, Seeded] = {}
    start = time.perf_counter()
    base = run_experiment(client, SMALL, f"bench {SMALL}")
    base_batch = base["providers"][0]["id"]
    seeded[SMALL] = Seeded(SMALL, base["id"], base_batch)
    print(f"  seeded {SMALL:>9,}: a demo run through the API, {time.perf_counter() - start:.1f} s")
    for size in sizes:
        if size == SMALL:
            continue
        start = time.perf_counter()
        clone = run_experiment(client, CLONE_SEED_ITERATIONS, f"bench {size}")
        batch = clone["providers"][0]["id"]
        aio.run(
            extend_batch(
                database_url, source=uuid.UUID(base_batch), target=uuid.UUID(batch), size=size
            )
        )
        seeded[size] = Seeded(size, clone["id"], batch)
        print(f"  seeded {size:>9,}: extended in SQL, {time.perf_counter() - start:.1f} s")
    return seeded


# --- measurements ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timings:
    samples: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def worst(self) -> float:
        return max(self.samples)


def timed_get(client: httpx.Client, url: str, **params: str | int) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, response


@dataclass(frozen=True)
class DetailFigures:
    timings: Timings
    memory_growth_mb: float


def measure_details(
    client: httpx.Client, pid: int, sizes: list[Seeded], requests: int
) -> dict[int, DetailFigures]:
    """``requests`` detail requests per size after a warm-up one. When every size answers
    quickly the sizes take turns, request by request, so that the machine's load of the
    moment weighs on each alike (the ratio is the figure); a slow one is measured alone,
    with fewer requests."""
    urls = {seeded.size: f"/v1/experiments/{seeded.experiment_id}" for seeded in sizes}
    warmups: dict[int, float] = {}
    for seeded in sizes:
        warmup, response = timed_get(client, urls[seeded.size])
        if response.json()["providers"][0]["iterations_requested"] != seeded.size:
            raise RuntimeError(f"the {seeded.size:,}-iteration experiment is not as seeded")
        warmups[seeded.size] = warmup
    samples: dict[int, list[float]] = {seeded.size: [] for seeded in sizes}
    with MemoryWatch(pid) as memory:
        if max(warmups.values()) <= SLOW_DETAIL_S:
            for _ in range(requests):
                for size, url in urls.items():
                    samples[size].append(timed_get(client, url)[0])
            growth = memory.growth_mb
            return {size: DetailFigures(Timings(s), growth) for size, s in samples.items()}
    figures: dict[int, DetailFigures] = {}
    for size, url in urls.items():
        with MemoryWatch(pid) as memory:
            if warmups[size] > SLOW_DETAIL_BUDGET_S:
                taken = [warmups[size]]  # minutes per request: the first one is the figure
            else:
                count = requests
                if warmups[size] > SLOW_DETAIL_S:
                    count = max(2, min(requests, round(SLOW_DETAIL_BUDGET_S / warmups[size])))
                taken = [timed_get(client, url)[0] for _ in range(count)]
        figures[size] = DetailFigures(Timings(taken), memory.growth_mb)
    return figures


@dataclass(frozen=True)
class ExportFigures:
    headers_s: float
    first_byte_s: float
    total_s: float
    size_bytes: int
    rss_before_mb: float
    growth_mb: float


def measure_export(client: httpx.Client, pid: int, seeded: Seeded) -> ExportFigures:
    url = f"/v1/experiments/{seeded.experiment_id}/export.csv"
    size = 0
    first_byte = math.nan
    with MemoryWatch(pid) as memory:
        start = time.perf_counter()
        with client.stream("GET", url) as response:
            headers = time.perf_counter() - start
            response.raise_for_status()
            for chunk in response.iter_raw():
                if chunk and size == 0:
                    first_byte = time.perf_counter() - start
                size += len(chunk)
        total = time.perf_counter() - start
    return ExportFigures(headers, first_byte, total, size, memory.start / 1e6, memory.growth_mb)


def measure_pages(client: httpx.Client, seeded: Seeded, requests: int) -> tuple[Timings, Timings]:
    """Page 1 and the page starting DEEP_FROM_END rows before the end, alternated so that
    both see the same machine; the cursor is what the API returns after that row's
    predecessor."""
    url = f"/v1/experiments/{seeded.experiment_id}/iterations"
    deep_index = seeded.size - DEEP_FROM_END
    cursor = encode_cursor(seeded.batch_id, str(deep_index - 1))
    _, first = timed_get(client, url, limit=PAGE_SIZE)
    _, deep = timed_get(client, url, limit=PAGE_SIZE, cursor=cursor)
    if first.json()["items"][0]["index"] != 0 or deep.json()["items"][0]["index"] != deep_index:
        raise RuntimeError("the iterations pages do not start where expected")
    page_one, page_deep = [], []
    for _ in range(requests):
        page_one.append(timed_get(client, url, limit=PAGE_SIZE)[0])
        page_deep.append(timed_get(client, url, limit=PAGE_SIZE, cursor=cursor)[0])
    return Timings(page_one), Timings(page_deep)


@dataclass(frozen=True)
class HealthFigures:
    idle: Timings
    busy: Timings
    detail_s: float


def measure_health(client: httpx.Client, seeded: Seeded, requests: int) -> HealthFigures:
    """``/health`` idle, then every 50 ms while one detail request of ``seeded`` runs.

    Each probe opens its own connection, as a load balancer's check does: a kept-alive
    one can be reset when the server's idle timer fires late, after a blocked loop."""
    fresh = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=str(client.base_url), timeout=900.0, limits=fresh) as probe:
        idle = [timed_get(probe, "/health")[0] for _ in range(requests)]
        done = threading.Event()
        detail: list[float] = []

        def request_detail() -> None:
            try:
                detail.append(timed_get(client, f"/v1/experiments/{seeded.experiment_id}")[0])
            finally:
                done.set()

        worker = threading.Thread(target=request_detail)
        worker.start()
        busy = []
        try:
            while not done.wait(0.05):
                busy.append(timed_get(probe, "/health")[0])
        finally:
            worker.join()
    if not detail:
        raise RuntimeError("the detail request failed")
    return HealthFigures(Timings(idle), Timings(busy or [0.0]), detail[0])


# --- report ---------------------------------------------------------------------------------


@dataclass
class Verdicts:
    failed: list[str] = field(default_factory=list)

    def judge(self, what: str, ok: bool, figure: str, target: str) -> None:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}: {figure} (target {target})")
        if not ok:
            self.failed.append(what)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def migrate(env: dict[str, str]) -> None:
    """``echo-ai migrate`` with ``env`` (the scratch database of a benchmark's service)."""
    migrated = subprocess.run(
        [sys.executable, "-m", "echo_ai.cli", "migrate"], env=env, capture_output=True, text=True
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"`echo-ai migrate` failed:\n{migrated.stderr[-3000:]}")


def run(args: argparse.Namespace, database_url: str, tmp: Path) -> Verdicts:
    env = api_environment(database_url, tmp)
    migrate(env)
    sizes = [SMALL, MEDIUM] + ([LARGE] if args.large else [])
    verdicts = Verdicts()
    with api_process(env, tmp / "api-1.log") as (base_url, pid):
        key = sign_up(base_url)
        with api_client(base_url, key) as client:
            print(f"seeding (demo provider, `echo-ai api` pid {pid}) ...", flush=True)
            seeded = seed(client, database_url, sizes)
            # In this process, which has served small requests only: the memory growth
            # measured is the export's own, not a reuse of a heap grown by a detail.
            print(f"\n(b) GET export.csv of {MEDIUM:,} iterations", flush=True)
            export = measure_export(client, pid, seeded[MEDIUM])
            print(
                f"  headers {ms(export.headers_s)}, first byte of the body "
                f"{ms(export.first_byte_s)}, whole file {export.total_s:.2f} s "
                f"({export.size_bytes / 1e6:.1f} MB); API resident memory "
                f"{export.rss_before_mb:.0f} MB before, +{export.growth_mb:.0f} MB at the peak"
            )
    biggest = seeded[sizes[-1]]

    # A new API process for the rest (same database and secret key, so the same API key).
    with (
        api_process(env, tmp / "api-2.log") as (base_url, pid),
        api_client(base_url, key) as client,
    ):
        print(f"\n`echo-ai api` restarted (pid {pid})")
        print(f"\n(c) GET iterations, {PAGE_SIZE} per page, {args.requests} of each", flush=True)
        print(f"  {'batch':>9}  {'page':<22} {'p50':>10} {'p95':>10}  {'ratio p50':>9}")
        pages: dict[int, tuple[Timings, Timings]] = {}
        for size in sizes[1:]:
            one, deep = measure_pages(client, seeded[size], args.requests)
            pages[size] = (one, deep)
            print(f"  {size:>9,}  {'page 1':<22} {ms(one.p50):>10} {ms(one.p95):>10}")
            print(
                f"  {size:>9,}  {f'from index {size - DEEP_FROM_END:,}':<22} "
                f"{ms(deep.p50):>10} {ms(deep.p95):>10}  {deep.p50 / one.p50:>8.2f}x"
            )

        print("\n(a) GET /v1/experiments/{id}", flush=True)
        print(f"  {'iterations':>10}  {'requests':>8} {'p50':>11} {'p95':>11}  {'API memory':>11}")
        details = measure_details(client, pid, [seeded[size] for size in sizes], args.requests)
        for size, figures in details.items():
            print(
                f"  {size:>10,}  {len(figures.timings.samples):>8} {ms(figures.timings.p50):>11} "
                f"{ms(figures.timings.p95):>11}  {figures.memory_growth_mb:>+9.0f} MB",
                flush=True,
            )

        print(f"\n(d) /health while a detail request of {biggest.size:,} runs", flush=True)
        health = measure_health(client, biggest, args.requests)
        print(
            f"  idle: p50 {ms(health.idle.p50)}, worst {ms(health.idle.worst)}; during the "
            f"{health.detail_s:.2f} s detail request: {len(health.busy.samples)} requests, "
            f"p50 {ms(health.busy.p50)}, worst {ms(health.busy.worst)} "
            f"({health.busy.worst / health.idle.p50:,.0f}x idle p50)"
        )

    print("\nverdicts")
    small, medium = details[SMALL].timings, details[MEDIUM].timings
    verdicts.judge(
        f"detail p95, {MEDIUM:,} / {SMALL:,} iterations",
        medium.p95 / small.p95 <= DETAIL_RATIO_TARGET,
        f"{medium.p95 / small.p95:,.1f}x ({ms(medium.p95)} / {ms(small.p95)}; "
        f"p50 ratio {medium.p50 / small.p50:,.1f}x)",
        f"<= {DETAIL_RATIO_TARGET:g}x",
    )
    if args.large:
        large = details[LARGE].timings
        verdicts.judge(
            f"detail p95, {LARGE:,} / {SMALL:,} iterations",
            large.p95 / small.p95 <= DETAIL_RATIO_TARGET,
            f"{large.p95 / small.p95:,.1f}x ({ms(large.p95)}; "
            f"p50 ratio {large.p50 / small.p50:,.1f}x)",
            f"<= {DETAIL_RATIO_TARGET:g}x; absolute < 50 ms on an idle machine",
        )
    verdicts.judge(
        f"export.csv of {MEDIUM:,}: first byte",
        export.first_byte_s < FIRST_BYTE_TARGET_S,
        f"{export.first_byte_s:.2f} s",
        f"< {FIRST_BYTE_TARGET_S:g} s",
    )
    verdicts.judge(
        f"export.csv of {MEDIUM:,}: API memory growth",
        export.growth_mb < EXPORT_MEMORY_TARGET_MB,
        f"{export.growth_mb:,.0f} MB",
        f"< {EXPORT_MEMORY_TARGET_MB:g} MB",
    )
    for size, (one, deep) in pages.items():
        verdicts.judge(
            f"iterations page from index {size - DEEP_FROM_END:,} / page 1, p50",
            deep.p50 / one.p50 <= PAGE_RATIO_TARGET,
            f"{deep.p50 / one.p50:.2f}x",
            f"<= {PAGE_RATIO_TARGET:g}x",
        )
    verdicts.judge(
        f"/health during a {biggest.size:,}-iteration detail request, worst",
        health.busy.worst < HEALTH_WORST_TARGET_S,
        ms(health.busy.worst),
        f"< {ms(HEALTH_WORST_TARGET_S)}",
    )
    return verdicts


ADMIN_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_arguments(parser: argparse.ArgumentParser, bench: str) -> argparse.Namespace | None:
    """The command line with ``--admin-database-url`` (the server to bench on), or None,
    with the reason printed, when that PostgreSQL does not answer (the bench is skipped)."""
    parser.add_argument("--admin-database-url", default=ADMIN_DATABASE_URL)
    args = parser.parse_args()
    try:
        aio.run(_admin(args.admin_database_url, "SELECT 1"))
    except (OSError, asyncpg.PostgresError) as error:
        print(f"{bench}: skipped, needs PostgreSQL ({type(error).__name__}: {error})")
        return None
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also 1,000,000 iterations")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--requests", type=int, default=60, help="samples per figure (fewer for slow details)"
    )
    args = postgres_arguments(parser, "bench_read_path")
    if args is None:
        return

    started = time.perf_counter()
    print(
        f"read path of the JSON API, PostgreSQL, `echo-ai api` (production, local executor); "
        f"sizes {SMALL:,}, {MEDIUM:,}" + (f", {LARGE:,}" if args.large else "")
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.admin_database_url, migrated=False) as url,
    ):
        verdicts = run(args, url, Path(tmp))
    print(
        f"\n{time.perf_counter() - started:.0f} s in all; {len(verdicts.failed)} target(s) missed"
    )
    if args.check and verdicts.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
