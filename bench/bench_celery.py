"""Production-mode benchmark: 10 experiments x 3 providers x 200 iterations through Celery.

Two `echo-ai worker` processes (each of `--worker-concurrency` prefork processes, default
2: the default of a 2-core machine) take the chunks from Redis and call the local fake LLM
server (in its own process, answering after 300 ms) under a limit of 600 calls per minute
per provider/model, shared by every worker through Redis. Prints, per provider, the rate
achieved as a share of that limit (target >= 90%), and the ratio of our rate to the
audited design measured in the same run: one worker of two concurrent tasks, each calling
its provider one iteration at a time (no rate limiter: it never gets near it).

The chunk size is the product's default, 50; the executor queues the chunks alternating
between providers, so the worker slots cover every provider (see docs/performance.md).

Needs PostgreSQL and Redis (a scratch database `echo_ai_bench_*` is created and dropped; an
empty Redis database among 12-15 is used and flushed). 2,000 calls per provider at 600 per
minute take at least 200 s (a full run, with the 45 s baseline, about 5 minutes);
`--scale 0.25` runs a quarter of the iterations per batch (about 2 minutes).

    uv run python bench/bench_celery.py [--scale 1.0] [--chunk-size 50] [--workers 2]
        [--worker-concurrency 2] [--concurrency-per-provider 16] [--rpm 600]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from echo_ai import aio, migrate
from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.config import Settings, normalise_database_url
from echo_ai.db import transaction
from echo_ai.execution.celery_app import configure
from echo_ai.execution.runtime import open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.providers.base import CompletionRequest
from echo_ai.providers.registry import ProviderSpec, build_provider, credentials
from echo_ai.runs.models import FINISHED_STATUSES, BatchRun, BatchStatus, Iteration

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runner import BRANDS, PROVIDERS, fake_llm_process, provider_environment

EXPERIMENTS = 10
ITERATIONS = 200
WORKERS = 2
RATE_TARGET = 0.90
PROMPT = "What is the best CRM for a 10-person startup?"


@dataclass
class ProviderFigures:
    calls: int
    failed: int
    seconds: float
    """From sending the chunks to the provider's last stored iteration."""
    peak_minute: tuple[int, float] | None
    """Most calls started in any 60 s window and when that window began (None if the run
    was shorter): at most the limit, give or take event-loop lateness."""


# --- services: scratch database, Redis database, worker processes ---------------------------


async def _admin(admin_url: str, statement: str) -> None:
    engine = create_async_engine(normalise_database_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def scratch_database(admin_url: str, *, migrated: bool = True) -> Iterator[str]:
    """A new PostgreSQL database, migrated unless told otherwise; dropped on exit. Yields
    its URL."""
    name = f"echo_ai_bench_{secrets.token_hex(4)}"
    aio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"

    async def upgrade() -> None:
        engine = create_async_engine(normalise_database_url(url))
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    try:
        if migrated:
            aio.run(upgrade())
        yield url
    finally:
        aio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def scratch_redis(base_url: str) -> Iterator[str]:
    """The first empty Redis database among 12-15 (flushed on exit). Yields its URL."""
    for number in range(12, 16):
        url = f"{base_url.rstrip('/')}/{number}"
        client = redis.Redis.from_url(url)
        if client.dbsize() == 0:
            break
        client.close()
    else:
        raise RuntimeError("Redis databases 12-15 are all in use; free one for the benchmark")
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def workers(count: int, concurrency: int, log_dir: Path) -> Iterator[list[Path]]:
    """``count`` `echo-ai worker` processes (environment already set); stopped on exit."""
    processes: list[subprocess.Popen[bytes]] = []
    logs = [log_dir / f"worker-{i}.log" for i in range(count)]
    try:
        for log in logs:
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "echo_ai.cli",
                            "worker",
                            "--concurrency",
                            str(concurrency),
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its prefork children in its group
                    )
                )
        app = configure(Settings())
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=1.0)) < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                tails = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
                raise RuntimeError(f"the workers did not start:\n{tails}")
        yield logs
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # warm shutdown of the worker
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# --- ours: experiments through Celery -------------------------------------------------------


def experiment(iterations: int, number: int) -> ExperimentCreate:
    return ExperimentCreate.model_validate(
        {
            "name": f"bench {number}",
            "prompt": PROMPT,
            "brands": BRANDS,
            "providers": PROVIDERS,
            "iterations": iterations,
        }
    )


async def ours(
    iterations: int, chunk_size: int, poll_seconds: float
) -> tuple[float, dict[str, ProviderFigures]]:
    """Create and send the experiments, wait for every batch to finish. Returns the wall
    time and the figures per provider."""
    settings = Settings()
    async with open_runtime(settings, executor="celery") as runtime:
        ids = []
        for number in range(EXPERIMENTS):
            async with transaction(runtime.session_factory) as session:
                created = await experiment_service.create(
                    session, experiment(iterations, number), chunk_size=chunk_size
                )
                ids.append(created.id)
        total = EXPERIMENTS * len(PROVIDERS) * iterations
        sent_at = datetime.now().astimezone()
        start = time.perf_counter()
        for experiment_id in ids:
            await runtime.executor.run_experiment(experiment_id)
        last_report = 0.0
        while True:
            await asyncio.sleep(poll_seconds)
            async with transaction(runtime.session_factory) as session:
                unfinished = await session.scalar(
                    select(func.count())
                    .select_from(BatchRun)
                    .where(BatchRun.status.not_in(list(FINISHED_STATUSES)))
                )
                done = await session.scalar(select(func.count()).select_from(Iteration))
            elapsed = time.perf_counter() - start
            if not unfinished:
                break
            if elapsed - last_report >= 10:
                last_report = elapsed
                print(
                    f"    {elapsed:5.0f} s: {done:5d}/{total} calls stored "
                    f"({(done or 0) / elapsed * 60:6.0f}/min over {len(PROVIDERS)} providers)",
                    flush=True,
                )
        wall = time.perf_counter() - start
        async with transaction(runtime.session_factory) as session:
            rows = (
                await session.execute(
                    select(
                        BatchRun.provider,
                        Iteration.created_at,
                        Iteration.latency_ms,
                        Iteration.success,
                    ).join(BatchRun, Iteration.batch_run_id == BatchRun.id)
                )
            ).all()
            statuses = (
                await session.execute(
                    select(BatchRun.status, func.count()).group_by(BatchRun.status)
                )
            ).all()
    not_completed = {status: n for status, n in statuses if status != BatchStatus.COMPLETED}
    if not_completed:
        print(f"  WARNING: batches not completed: {not_completed}")
    figures: dict[str, ProviderFigures] = {}
    for spec in PROVIDERS:
        vendor = ProviderSpec.parse(spec).vendor
        mine = [row for row in rows if row.provider == vendor]
        stamps = sorted((row.created_at - sent_at).total_seconds() for row in mine)
        # A row is made when its call returns: its call started latency_ms before.
        starts = sorted(
            (row.created_at - sent_at).total_seconds() - (row.latency_ms or 0) / 1000
            for row in mine
        )
        figures[spec] = ProviderFigures(
            calls=len(mine),
            failed=sum(not row.success for row in mine),
            seconds=stamps[-1] if stamps else wall,
            peak_minute=peak_in_window(starts, 60.0),
        )
    return wall, figures


def peak_in_window(stamps: list[float], window: float) -> tuple[int, float] | None:
    """Most of the sorted ``stamps`` in any half-open ``window`` of seconds, and where that
    window starts (None if they span less)."""
    if not stamps or stamps[-1] - stamps[0] < window:
        return None
    peak, first = (0, 0.0), 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= window:
            first += 1
        peak = max(peak, (last - first + 1, stamps[first]))
    return peak


# --- the audited design ---------------------------------------------------------------------


async def audited(iterations: int, window: float) -> tuple[int, float]:
    """One worker of two task slots; a task runs its batch's iterations one after the
    other (one call in flight per task), with the real adapters. Returns the calls made
    and the seconds taken: ``window``, or less if the batches (taken in the order they
    would be queued, experiment by experiment) all ended before."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for _ in range(EXPERIMENTS):
        for spec in PROVIDERS:
            queue.put_nowait(spec)
    clients = {}
    for spec in PROVIDERS:
        parsed = ProviderSpec.parse(spec)
        api_key, base_url = credentials(Settings(), parsed.vendor)
        clients[spec] = (
            parsed.model,
            build_provider(parsed, api_key=api_key, base_url=base_url, timeout_seconds=60.0),
        )
    matcher = BrandMatcher(BrandSet.model_validate(BRANDS))
    start = time.perf_counter()
    deadline = start + window
    calls = 0

    async def task() -> None:
        nonlocal calls
        while not queue.empty():
            model, provider = clients[queue.get_nowait()]
            for index in range(iterations):
                if time.perf_counter() >= deadline:
                    return
                request = CompletionRequest(prompt=PROMPT, model=model, seed=index)
                completion = await provider.complete(request)
                matcher.extract(completion.text)
                calls += 1

    try:
        await asyncio.gather(task(), task())
        elapsed = time.perf_counter() - start
    finally:
        for _, provider in clients.values():
            await provider.aclose()
    return calls, elapsed


# --- main -----------------------------------------------------------------------------------


def reachable(admin_url: str, redis_url: str) -> str | None:
    """Why the services cannot be used, or None."""
    try:
        aio.run(_admin(admin_url, "SELECT 1"))
    except Exception as error:
        return f"PostgreSQL at {admin_url}: {type(error).__name__}: {error}"
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except Exception as error:
        return f"Redis at {redis_url}: {type(error).__name__}: {error}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="share of the 200 iterations per batch to run (0.25: a quick run)",
    )
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--rpm", type=int, default=600, help="limit per provider/model")
    parser.add_argument("--workers", type=int, default=WORKERS, help="echo-ai worker processes")
    parser.add_argument(
        "--worker-concurrency", type=int, default=2, help="prefork processes per worker"
    )
    parser.add_argument("--chunk-size", type=int, default=50, help="ECHO_AI_RUNNER__CHUNK_SIZE")
    parser.add_argument(
        "--concurrency-per-provider",
        type=int,
        default=16,
        help="ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER",
    )
    parser.add_argument("--baseline-seconds", type=float, default=45.0)
    parser.add_argument(
        "--admin-database-url", default="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    iterations = max(1, round(ITERATIONS * args.scale))

    problem = reachable(args.admin_database_url, args.redis_url)
    if problem is not None:
        print(f"bench_celery: skipped, needs PostgreSQL and Redis ({problem})")
        return

    with (
        fake_llm_process(args.latency_ms) as base_url,
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(args.admin_database_url) as database_url,
        scratch_redis(args.redis_url) as redis_url,
    ):
        os.environ.update(
            provider_environment(base_url),
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            ECHO_AI_EXECUTOR="celery",
            ECHO_AI_DATA_DIR=tmp,
            ECHO_AI_SECRET_KEY=secrets.token_urlsafe(48),
            ECHO_AI_RUNNER__REQUESTS_PER_MINUTE=str(args.rpm),
            ECHO_AI_RUNNER__CHUNK_SIZE=str(args.chunk_size),
            ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER=str(args.concurrency_per_provider),
            ECHO_AI_OBSERVABILITY__LOG_LEVEL="WARNING",
        )
        calls = EXPERIMENTS * len(PROVIDERS) * iterations
        print(
            f"{EXPERIMENTS} experiments x {len(PROVIDERS)} providers x {iterations} iterations "
            f"= {calls} calls; {args.latency_ms:.0f} ms latency; limit {args.rpm}/min per "
            f"provider (shared in Redis); {args.workers} echo-ai workers x "
            f"{args.worker_concurrency} processes; chunk size {args.chunk_size}, "
            f"{args.concurrency_per_provider} in flight per provider per process; PostgreSQL"
        )

        print(f"  audited design, {args.baseline_seconds:.0f} s window ...", flush=True)
        base_calls, base_seconds = aio.run(audited(iterations, args.baseline_seconds))
        base_rate = base_calls / base_seconds * 60  # calls/min, all providers

        with workers(args.workers, args.worker_concurrency, Path(tmp)):
            print("  echo-ai through Celery ...", flush=True)
            wall, figures = aio.run(ours(iterations, args.chunk_size, poll_seconds=1.0))

    limit = args.rpm
    print()
    print(
        f"  {'provider':<30} {'calls':>6} {'failed':>6} {'time':>8} {'calls/min':>10} "
        f"{'of limit':>9} {'peak/60 s':>12}"
    )
    shares = []
    for spec, f in figures.items():
        rate = f.calls / f.seconds * 60
        shares.append(rate / limit)
        peak = "-" if f.peak_minute is None else "{} @{:.0f}s".format(*f.peak_minute)
        print(
            f"  {spec:<30} {f.calls:6d} {f.failed:6d} {f.seconds:7.1f}s {rate:10.0f} "
            f"{rate / limit:8.1%} {peak:>12}"
        )
    calls = sum(f.calls for f in figures.values())
    ours_rate = calls / wall * 60
    print(
        f"  {'all providers':<30} {calls:6d} {'':6} {wall:7.1f}s {ours_rate:10.0f} "
        f"{ours_rate / (limit * len(PROVIDERS)):8.1%}"
    )
    print(
        f"  {'audited design (all)':<30} {base_calls:6d} {'':6} "
        f"{base_seconds:7.1f}s {base_rate:10.0f} "
        f"{base_rate / (limit * len(PROVIDERS)):8.1%}"
    )
    worst = min(shares)
    verdict = "meets" if worst >= RATE_TARGET else "MISSES"
    print(f"  lowest share of the limit: {worst:.1%} ({verdict} the {RATE_TARGET:.0%} target)")
    print(
        f"  ours / audited design (calls per minute, all providers): {ours_rate / base_rate:.1f}x"
    )


if __name__ == "__main__":
    main()
