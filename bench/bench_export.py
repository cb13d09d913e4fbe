"""Data-export benchmark: a user's ZIP (GDPR Art. 15/20) at the sizes users reach, on
PostgreSQL.

Seeds a scratch PostgreSQL database in SQL (as :mod:`bench_retention` does): two users,
each the owner of one workspace, a small one (``--baseline-rows`` answers) and a large one
(``--rows``, 200,000 by default). Writes each user's export with the background job's own
code (:func:`echo_ai.accounts.export.write_zip`, the ZIP streamed to a file) and reports,
for each: wall time, answers per second, the ZIP's size, and the process's peak resident
memory after it (``ru_maxrss``: the small export runs first, so a large one that held its
answers in memory would raise it). The figures that matter are the ratios of the large
export to the small one, measured in the same run: time per answer near x1 (the export
is linear) and peak memory near x1 (it streams page by page, whatever the size).

Each ZIP is read back and its answers counted, so a fast export that lost rows fails.

PostgreSQL at 127.0.0.1:5432 (user postgres) is needed; without it the run says it
skipped. The scratch database (``echo_ai_bench_*``) is dropped at the end.

    uv run python bench/bench_export.py [--rows 200000] [--baseline-rows 10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench_celery import scratch_database
from bench_read_path import postgres_arguments
from bench_retention import seed
from echo_ai import aio
from echo_ai.accounts.export import write_zip
from echo_ai.auth.models import User
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, transaction
from echo_ai.workspaces.models import Membership, Role


@dataclass(frozen=True)
class Exported:
    answers: int
    seconds: float
    zip_bytes: int
    peak_rss_bytes: int

    def line(self, label: str) -> str:
        return (
            f"{label}: {self.answers:,} answers in {self.seconds:.1f} s "
            f"({self.answers / self.seconds:,.0f} answers/s), ZIP {self.zip_bytes / 1e6:.1f} MB, "
            f"peak resident memory {self.peak_rss_bytes / 1e6:.0f} MB"
        )


async def owner_of(settings: Settings, workspace_id: uuid.UUID) -> uuid.UUID:
    engine = create_engine(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            user = User(email=f"owner-{uuid.uuid4().hex[:8]}@example.com", password_hash="-")
            session.add(user)
            await session.flush()
            session.add(Membership(workspace_id=workspace_id, user_id=user.id, role=Role.OWNER))
            return user.id
    finally:
        await engine.dispose()


def answers_in(path: Path) -> int:
    """The answers the ZIP holds (every experiment file read back)."""
    with zipfile.ZipFile(path) as archive:
        return sum(
            len(json.loads(archive.read(name))["iterations"])
            for name in archive.namelist()
            if "/experiments/" in name
        )


def export(settings: Settings, user_id: uuid.UUID, path: Path) -> Exported:
    async def write() -> None:
        engine = create_engine(settings)
        try:
            with path.open("wb") as out:
                await write_zip(create_session_factory(engine), user_id, out)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    aio.run(write())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return Exported(answers_in(path), seconds, path.stat().st_size, peak)


def run(args: argparse.Namespace, url: str, tmp: Path) -> None:
    settings = Settings(data_dir=tmp / "data", database_url=url)
    results: list[Exported] = []
    for rows in (args.baseline_rows, args.rows):
        workspace_id, _ = aio.run(seed(settings, rows, args.experiments, args.batches))
        user_id = aio.run(owner_of(settings, workspace_id))
        done = export(settings, user_id, tmp / f"export-{rows}.zip")
        if done.answers != rows:
            raise SystemExit(f"the export of {rows:,} answers holds {done.answers:,}")
        results.append(done)
    small, large = results
    print(small.line("baseline export"))
    print(large.line("large export   "))
    per_answer = (large.seconds / large.answers) / (small.seconds / small.answers)
    print(
        f"ratio large/baseline: time per answer x{per_answer:.2f}, "
        f"peak resident memory x{large.peak_rss_bytes / small.peak_rss_bytes:.2f} "
        f"for x{large.answers / small.answers:.0f} the answers"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="answers in the large export")
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    parser.add_argument("--experiments", type=int, default=20)
    parser.add_argument("--batches", type=int, default=5, help="batches per experiment")
    args = postgres_arguments(parser, "bench_export")
    if args is None:
        return
    with tempfile.TemporaryDirectory() as tmp, scratch_database(args.admin_database_url) as url:
        run(args, url, Path(tmp))


if __name__ == "__main__":
    main()
