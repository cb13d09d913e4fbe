"""Retention benchmark: redact 1,000,000 stored answers on PostgreSQL while a reader reads.

Seeds a scratch PostgreSQL database in SQL (``generate_series``): one free-plan workspace,
``--experiments`` finished experiments of ``--batches`` batches each, the batches holding
``--rows`` answers in all (1,000,000 by default), everything 100 days old, plus one recent
experiment. Then runs the retention pass (:func:`echo_ai.accounts.retention.apply`, the
daily task's work: ``privacy.retention_batch_rows`` rows per transaction) and reports:

(a) answers redacted per second (the whole pass, wall time);
(b) a concurrent reader, in its own thread, event loop and connection pool, looping over
    the experiment-detail reads of the API (:func:`echo_ai.experiments.service.load_report`
    of an experiment being redacted, then its first page of 50 answers): its latency
    (p50, p95, worst) for ``--idle-seconds`` before the pass and during the pass, and the
    ratio during/before, measured in the same run (the machines are noisy). A pass that
    held long locks would show as readers waiting: a worst read near the pass's length.

PostgreSQL at 127.0.0.1:5432 (user postgres) is needed; without it the run says it
skipped. The scratch database (``echo_ai_bench_*``) is dropped at the end.

    uv run python bench/bench_retention.py [--rows 1000000] [--batch-rows 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from bench_celery import scratch_database
from bench_read_path import postgres_arguments
from echo_ai import aio
from echo_ai.accounts import retention
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, utcnow
from echo_ai.experiments import service as experiment_service
from echo_ai.runs.models import Iteration

AGE_DAYS = 100
ANSWER = (
    "For a 10-person startup HubSpot is the usual pick; Salesforce is heavier and Pipedrive "
    "is simpler. Zoho CRM is the cheapest of the four. "
) * 6
"""About 900 characters, the size of a typical stored answer."""


@dataclass
class Reads:
    """The reader's samples: (start time, latency) in seconds."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def between(self, start: float, end: float) -> list[float]:
        return [latency for at, latency in self.samples if start <= at < end]


def figures(latencies: list[float]) -> str:
    if not latencies:
        return "no sample"
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"n={len(ordered):,} p50 {statistics.median(ordered) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, worst {ordered[-1] * 1000:.1f} ms"
    )


async def seed(
    settings: Settings, rows: int, experiments: int, batches: int
) -> tuple[uuid.UUID, uuid.UUID]:
    """A workspace of old experiments (their answers to redact) in SQL: the workspace's id
    and its first experiment's."""
    engine = create_engine(settings)
    per_batch = rows // (experiments * batches)
    started = time.perf_counter()
    try:
        async with engine.begin() as connection:
            workspace = uuid.uuid4()
            await connection.execute(
                text(
                    "INSERT INTO workspaces (id, name, personal, plan, require_2fa, "
                    "scrub_personal_data, created_at, updated_at) VALUES (:id, 'Bench', false, "
                    "'free', false, false, now() - :age * interval '1 day', now())"
                ),
                {"id": workspace, "age": AGE_DAYS},
            )
            await connection.execute(
                text(
                    "INSERT INTO experiments (id, workspace_id, name, prompt, brands, "
                    "brands_revision, providers, iterations, temperature, grounding, "
                    "require_grounding, status, runs, schedule_timezone, schedule_paused, "
                    "created_at, updated_at) "
                    "SELECT gen_random_uuid(), :ws, 'bench ' || n, 'Best CRM?', "
                    '\'{"target": {"name": "HubSpot"}, "competitors": []}\', 1, '
                    "'[\"demo\"]', :iterations, 1.0, false, false, 'completed', 1, 'UTC', "
                    "false, now() - :age * interval '1 day', now() "
                    "FROM generate_series(1, :experiments) AS n"
                ),
                {
                    "ws": workspace,
                    "iterations": per_batch * batches,
                    "experiments": experiments,
                    "age": AGE_DAYS,
                },
            )
            await connection.execute(
                text(
                    "INSERT INTO batch_runs (id, experiment_id, round, provider, model, status, "
                    "iterations_requested, temperature, chunk_size, seed, synthetic, stored, "
                    "succeeded, failed, truncated, refused, empty, metrics, metrics_history, "
                    "brands_revision, created_at, updated_at, finished_at) "
                    "SELECT gen_random_uuid(), e.id, 1, 'demo', 'demo' || b, 'completed', "
                    ":per_batch, 1.0, 100, 0, true, :per_batch, :per_batch, 0, 0, 0, 0, "
                    "NULL, '[]', 1, e.created_at, now(), e.created_at "
                    "FROM experiments e CROSS JOIN generate_series(1, :batches) AS b "
                    "WHERE e.workspace_id = :ws"
                ),
                {"per_batch": per_batch, "batches": batches, "ws": workspace},
            )
            await connection.execute(
                text(
                    "INSERT INTO iterations (id, batch_run_id, index, success, answer, "
                    "answer_class, reasoning, attempts, searched, citations, sources, "
                    "search_queries, extraction, created_at) "
                    "SELECT gen_random_uuid(), r.id, i, true, :answer, 'complete', "
                    "'reasoning about CRMs', 1, false, '[]', '[]', '[]', "
                    '\'{"brands_in_order": ["HubSpot"], "mentions": [], "absences": []}\', '
                    "r.created_at FROM batch_runs r "
                    "JOIN experiments e ON e.id = r.experiment_id AND e.workspace_id = :ws "
                    "CROSS JOIN generate_series(0, :last) AS i"
                ),
                {"answer": ANSWER, "last": per_batch - 1, "ws": workspace},
            )
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
            first = (
                await connection.execute(
                    text(
                        "SELECT id FROM experiments WHERE workspace_id = :ws ORDER BY name LIMIT 1"
                    ),
                    {"ws": workspace},
                )
            ).scalar_one()
            count = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM iterations i JOIN batch_runs r ON r.id = "
                        "i.batch_run_id JOIN experiments e ON e.id = r.experiment_id "
                        "WHERE e.workspace_id = :ws"
                    ),
                    {"ws": workspace},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    print(f"seeded {count:,} answers in {time.perf_counter() - started:.0f} s")
    return workspace, uuid.UUID(str(first))


def reader(settings: Settings, experiment_id: uuid.UUID, reads: Reads) -> None:
    """Read the experiment's detail and first page of answers until told to stop."""

    async def loop() -> None:
        engine = create_engine(settings, pool_size=2)
        factory = create_session_factory(engine)
        try:
            while not reads.stop.is_set():
                started = time.perf_counter()
                async with factory() as session:
                    found = await experiment_service.load_report(session, experiment_id)
                    batch_ids = [batch.id for batch, _ in found.batches]
                    await experiment_service.iteration_rows(session, batch_ids, Iteration, limit=50)
                reads.samples.append((started, time.perf_counter() - started))
        finally:
            await engine.dispose()

    try:
        asyncio.run(loop())
    except BaseException as error:  # reported by the main thread
        reads.error = error


def run(args: argparse.Namespace, url: str, tmp: Path) -> None:
    settings = Settings(data_dir=tmp / "data", database_url=url)
    settings.privacy.retention_batch_rows = args.batch_rows
    _, experiment_id = aio.run(seed(settings, args.rows, args.experiments, args.batches))

    reads = Reads()
    thread = threading.Thread(target=reader, args=(settings, experiment_id, reads), daemon=True)
    thread.start()
    idle_from = time.perf_counter()
    time.sleep(args.idle_seconds)

    async def purge() -> retention.RetentionReport:
        engine = create_engine(settings)
        try:
            return await retention.apply(
                create_session_factory(engine), now=utcnow(), settings=settings
            )
        finally:
            await engine.dispose()

    purge_from = time.perf_counter()
    report = aio.run(purge())
    purge_until = time.perf_counter()
    reads.stop.set()
    thread.join()
    if reads.error is not None:
        raise reads.error

    elapsed = purge_until - purge_from
    print(
        f"redaction pass: {report.answers_redacted:,} answers in {elapsed:.1f} s, "
        f"{report.answers_redacted / elapsed:,.0f} rows/s, {report.transactions:,} "
        f"transactions of at most {args.batch_rows:,} rows"
    )
    before = reads.between(idle_from, purge_from)
    during = reads.between(purge_from, purge_until)
    print(f"reader before the pass: {figures(before)}")
    print(f"reader during the pass: {figures(during)}")
    if before and during:
        ratio_p50 = statistics.median(during) / statistics.median(before)
        print(f"ratio during/before: p50 x{ratio_p50:.2f}")

    again_from = time.perf_counter()
    second = aio.run(purge())
    print(
        f"second pass (idempotent): {second.answers_redacted:,} answers, "
        f"{time.perf_counter() - again_from:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="answers to redact")
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--batches", type=int, default=10, help="batches per experiment")
    parser.add_argument("--batch-rows", type=int, default=5_000, help="rows per transaction")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = postgres_arguments(parser, "bench_retention")
    if args is None:
        return
    print(
        f"retention on PostgreSQL: {args.rows:,} answers {AGE_DAYS} days old in "
        f"{args.experiments} experiments x {args.batches} batches, free plan (30 days)"
    )
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.admin_database_url) as url:
        run(args, url, Path(tmp))


if __name__ == "__main__":
    main()
