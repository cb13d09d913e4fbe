"""Runner benchmark: 3 providers x N iterations against the local fake LLM server.

Prints (a) our wall time against the audited design measured in the same run — one worker
process of concurrency 2, each task calling its provider one iteration at a time — as a
ratio, and (b) our own per-iteration overhead (extraction + storage), measured with the
offline demo provider at zero latency so that nothing but our work is timed.

    uv run python bench/bench_runner.py [--iterations 300] [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from echo_ai import aio
from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.config import RunnerSettings, Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.runs import service as run_service

PROVIDERS = ["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-6", "perplexity:sonar"]
BRANDS = {
    "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
    "competitors": [
        {"name": "Salesforce"},
        {"name": "Pipedrive"},
        {"name": "Zoho CRM", "aliases": ["Zoho"]},
        {"name": "Freshsales"},
        {"name": "Close", "case_sensitive": True},
    ],
}
SPEED_TARGET = 25.0
OVERHEAD_TARGET_MS = 2.0


@contextmanager
def fake_llm_process(latency_ms: float) -> Iterator[str]:
    """The fake LLM server in its own process, as a vendor would be: our process's CPU is
    then spent on our work only. Yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "echo_ai.cli",
            "fake-llm",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the fake LLM server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def experiment(providers: list[str], iterations: int) -> ExperimentCreate:
    return ExperimentCreate.model_validate(
        {
            "prompt": "What is the best CRM for a 10-person startup?",
            "brands": BRANDS,
            "providers": providers,
            "iterations": iterations,
        }
    )


async def create(runtime: Runtime, data: ExperimentCreate) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session, data, chunk_size=runtime.settings.runner.chunk_size
        )
        return created.id


async def ours(data_dir: Path, iterations: int, concurrency: int) -> float:
    settings = Settings(
        data_dir=data_dir,
        runner=RunnerSettings(concurrency_per_provider=concurrency, chunk_size=50),
    )
    async with open_runtime(settings) as runtime:
        experiment_id = await create(runtime, experiment(PROVIDERS, iterations))
        start = time.perf_counter()
        await runtime.executor.run_experiment(experiment_id)
        return time.perf_counter() - start


async def audited(data_dir: Path, iterations: int) -> float:
    """One worker with two task slots; a task runs its batch's iterations one by one."""
    settings = Settings(
        data_dir=data_dir,
        runner=RunnerSettings(concurrency_per_provider=1, chunk_size=iterations),
    )
    async with open_runtime(settings) as runtime:
        experiment_id = await create(runtime, experiment(PROVIDERS, iterations))
        async with transaction(runtime.session_factory) as session:
            batches = await run_service.runnable_batches(session, experiment_id)
        worker_slots = asyncio.Semaphore(2)

        async def task(batch_id: uuid.UUID) -> None:
            async with worker_slots:
                await runtime.runner.run_chunk(batch_id, 0)

        start = time.perf_counter()
        await asyncio.gather(*(task(batch.id) for batch in batches))
        return time.perf_counter() - start


async def overhead(data_dir: Path, iterations: int) -> tuple[float, float, float]:
    """(total, extraction, storage) milliseconds per iteration with a zero-latency provider."""
    settings = Settings(
        data_dir=data_dir, runner=RunnerSettings(concurrency_per_provider=64, chunk_size=100)
    )
    async with open_runtime(settings) as runtime:
        experiment_id = await create(runtime, experiment(["demo"], iterations))
        start = time.perf_counter()
        await runtime.executor.run_experiment(experiment_id)
        total = time.perf_counter() - start
        async with transaction(runtime.session_factory) as session:
            loaded = await experiment_service.get(session, experiment_id)
            answers = await experiment_service.answers(session, loaded)
    matcher = BrandMatcher(experiment(["demo"], 1).brands)
    start = time.perf_counter()
    for answer in answers:
        matcher.extract(answer)
    extraction = time.perf_counter() - start
    per = 1000.0 / iterations
    return total * per, extraction * per, (total - extraction) * per


def provider_environment(base_url: str) -> dict[str, str]:
    """Vendor settings that point the OpenAI, Anthropic and Perplexity adapters at the
    fake LLM server."""
    return {
        "OPENAI_BASE_URL": f"{base_url}/v1",
        "OPENAI_API_KEY": "bench",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "bench",
        "PERPLEXITY_BASE_URL": base_url,
        "PERPLEXITY_API_KEY": "bench",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300, help="per provider")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--overhead-iterations", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32, help="ours, per provider")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours; best counts")
    args = parser.parse_args()

    with fake_llm_process(args.latency_ms) as base_url, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(provider_environment(base_url))
        root = Path(tmp)
        calls = len(PROVIDERS) * args.iterations
        print(
            f"{len(PROVIDERS)} providers x {args.iterations} iterations, "
            f"{args.latency_ms:.0f} ms latency, local fake LLM server, SQLite"
        )
        runs = sorted(
            aio.run(ours(root / f"ours-{i}", args.iterations, args.concurrency))
            for i in range(args.repeats)
        )
        ours_s = runs[0]
        print(
            f"  echo-ai (concurrent chunks):          {ours_s:8.2f} s  "
            f"({calls / ours_s:7.1f} calls/s; best of {args.repeats}, "
            f"worst {runs[-1]:.2f} s, concurrency {args.concurrency}/provider)"
        )
        base_s = aio.run(audited(root / "audited", args.iterations))
        print(
            f"  audited design (2 slots, sequential): {base_s:8.2f} s  "
            f"({calls / base_s:7.1f} calls/s)"
        )
        ratio = base_s / ours_s
        verdict = "meets" if ratio >= SPEED_TARGET else "MISSES"
        print(f"  speed-up: {ratio:.1f}x ({verdict} the {SPEED_TARGET:.0f}x target)")

        total, extraction, storage = aio.run(overhead(root / "overhead", args.overhead_iterations))
    verdict = "meets" if total < OVERHEAD_TARGET_MS else "MISSES"
    print(
        f"per-iteration overhead over {args.overhead_iterations} demo iterations "
        f"(zero latency): {total:.3f} ms ({verdict} the {OVERHEAD_TARGET_MS} ms target)"
    )
    print(f"  extraction {extraction:.3f} ms, storage and scheduling {storage:.3f} ms")


if __name__ == "__main__":
    main()
