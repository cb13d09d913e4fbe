"""Start-up benchmark: the CPU time of ``echo-ai --help`` and ``echo-ai run --help``.

Prints the CPU time (user + system, from the child's resource usage) of ``echo-ai
--help``, ``echo-ai run --help`` and, as the baseline measured in the same run, ``python
-c "import typer, rich"`` (what any Typer command line costs), each the median of several
runs taken in turn so that load from other processes spreads over all three; then each
command's ratio to the baseline. Exits 1 if a ratio exceeds the target (4), so it can
serve as a check: every command pays this before it does anything.

    uv run python bench/bench_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

TARGET_RATIO = 4.0


def echo_ai_command() -> list[str]:
    """The installed ``echo-ai`` script beside this interpreter (what a user runs)."""
    script = shutil.which("echo-ai", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "echo_ai.cli"]


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU of one run of ``argv`` (runs are sequential: the delta is its own)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each command")
    args = parser.parse_args()

    echo_ai = echo_ai_command()
    commands = {
        'python -c "import typer, rich"': [sys.executable, "-c", "import typer, rich"],
        "echo-ai --help": [*echo_ai, "--help"],
        "echo-ai run --help": [*echo_ai, "run", "--help"],
    }
    for argv in commands.values():  # warm the file cache and the bytecode
        cpu_seconds(argv)
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.runs):
        for label, argv in commands.items():
            samples[label].append(cpu_seconds(argv))
    medians = {label: statistics.median(times) for label, times in samples.items()}

    baseline_label = next(iter(commands))
    baseline = medians[baseline_label]
    print(f"CPU time, user + system (median of {args.runs} runs):")
    for label, seconds in medians.items():
        print(f"  {label:34} {seconds * 1000:7.0f} ms")
    worst = 0.0
    for label, seconds in list(medians.items())[1:]:
        ratio = seconds / baseline
        worst = max(worst, ratio)
        verdict = "ok" if ratio <= TARGET_RATIO else "TOO SLOW"
        print(f"  ratio {label} / baseline: {ratio:5.2f}  (target <= {TARGET_RATIO:g}: {verdict})")
    if worst > TARGET_RATIO:
        sys.exit(1)


if __name__ == "__main__":
    main()
