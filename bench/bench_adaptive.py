"""Adaptive sampling against a fixed count, through the real runner (issue 14).

For each true rate from 0.02 to 0.9 the offline demo provider mentions the target at that
rate. Adaptive experiments (±5 points at 95%, rounds of 10, 30 to 1,000 answers) run
``--repeats`` batches per rate (one demo model each, each with its own seed); the
baseline, in the same run, is the fixed count that promises the same ±5 points at any
rate (planned at one half, the widest: :func:`answers_for_half_width`), run once per rate
through the same runner. Printed per rate: calls asked, the achieved half-width and
whether each interval holds the true rate; then the calls saved over the range, which
issue 14 asks to be at least 30%, and the wall-time ratio of the two designs (adaptive
batches run their rounds one after the other, so they save calls and money, not always
time).

    uv run python bench/bench_adaptive.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from echo_ai import aio
from echo_ai.analysis.sampling import answers_for_half_width
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import ExperimentCreate

RATES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
HALF_WIDTH = 0.05
MAXIMUM = 1_000
SAVINGS_TARGET = 0.30
BRANDS = {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]}


@dataclass(frozen=True)
class Outcome:
    calls: int
    half_width: float
    covered: bool


async def _run(runtime: Runtime, rate: float, *, repeats: int, adaptive: bool) -> list[Outcome]:
    data = ExperimentCreate.model_validate(
        {
            "prompt": "Which CRM should a small agency use?",
            "brands": BRANDS,
            "providers": [f"demo:r{index}" for index in range(repeats)],
            "iterations": MAXIMUM if adaptive else answers_for_half_width(HALF_WIDTH),
            "precision": {"half_width": HALF_WIDTH} if adaptive else None,
            "demo_probabilities": {"HubSpot": rate},
        }
    )
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.create(
            session, data, chunk_size=runtime.settings.runner.chunk_size
        )
        experiment_id: uuid.UUID = experiment.id
    await runtime.executor.run_experiment(experiment_id)
    async with transaction(runtime.session_factory) as session:
        stored = await experiment_service.get(session, experiment_id)
    outcomes = []
    for batch in stored.batch_runs:
        assert batch.metrics is not None, batch.status
        visibility = batch.metrics["visibility"]
        low, high = visibility["ci_low"], visibility["ci_high"]
        outcomes.append(Outcome(batch.iterations_requested, (high - low) / 2, low <= rate <= high))
    return outcomes


async def bench(settings: Settings, repeats: int) -> float:
    fixed_calls = answers_for_half_width(HALF_WIDTH)
    print(
        f"adaptive ±{HALF_WIDTH * 100:g} points (30 to {MAXIMUM:,} answers, rounds of 10) vs a "
        f"fixed {fixed_calls} answers (the count that promises ±{HALF_WIDTH * 100:g} at any "
        f"rate); {repeats} adaptive batches per rate, demo provider, through the runner"
    )
    header = ("rate", "adaptive calls", "±pts", "held", "fixed ±pts", "saved")
    print("{:>5} {:>15} {:>6} {:>5} {:>11} {:>6}".format(*header))
    adaptive_total = fixed_total = 0
    adaptive_seconds = fixed_seconds = 0.0
    async with open_runtime(settings, executor="local") as runtime:
        for rate in RATES:
            started = time.perf_counter()
            adaptive = await _run(runtime, rate, repeats=repeats, adaptive=True)
            adaptive_seconds += time.perf_counter() - started
            started = time.perf_counter()
            fixed_batches = await _run(runtime, rate, repeats=repeats, adaptive=False)
            fixed_seconds += time.perf_counter() - started
            fixed = fixed_batches[0]
            mean_calls = sum(o.calls for o in adaptive) / len(adaptive)
            mean_width = sum(o.half_width for o in adaptive) / len(adaptive)
            held = sum(o.covered for o in adaptive)
            adaptive_total += sum(o.calls for o in adaptive)
            fixed_total += sum(o.calls for o in fixed_batches)
            print(
                f"{rate:>5.2f} {mean_calls:>15.1f} {mean_width * 100:>6.2f} "
                f"{held:>2}/{len(adaptive):<2} "
                f"{sum(o.half_width for o in fixed_batches) / repeats * 100:>11.2f} "
                f"{1 - mean_calls / fixed.calls:>6.0%}"
            )
    saved = 1 - adaptive_total / fixed_total
    print(
        f"calls over the range: adaptive {adaptive_total:,}, fixed {fixed_total:,}: "
        f"{saved:.0%} fewer (target at least {SAVINGS_TARGET:.0%}); wall time ratio "
        f"adaptive/fixed {adaptive_seconds / fixed_seconds:.2f}"
    )
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="adaptive batches per rate (1-10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(data_dir=Path(directory) / "data")  # calls are counted, not time
        saved = aio.run(bench(settings, max(1, min(args.repeats, 10))))
    return 0 if saved >= SAVINGS_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
