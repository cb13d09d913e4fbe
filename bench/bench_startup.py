"""Start-up benchmark: the CPU time of ``echo-ai --help`` and ``echo-ai run --help``.

Prints the CPU time (user + system, from the child's resource usage) of ``echo-ai
--help``, ``echo-ai run --help`` and, as the baseline measured in the same run, ``python
-c "import typer, rich"`` (what any Typer command line costs), each the median of several
runs taken in turn so that load from other processes spreads over them all; then each
command's ratio to the baseline, and for reference that of ``run --help`` of a two-command
Typer app with nothing else in it. Exits 1 if a ratio exceeds the target (4), so it can
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
TYPER_SUBCOMMAND = """
from typing import Annotated
import typer
app = typer.Typer(rich_markup_mode=None)
@app.command()
def run(prompt: Annotated[str, typer.Option(help="A question.")] = "") -> None: ...
@app.command()
def show() -> None: ...
app()
"""
"""The least a Typer command line with subcommands (plain help, as ours) costs for ``run
--help``: Typer imports Pydantic to coerce the group's own options once a subcommand is
invoked."""


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
    baseline = 'python -c "import typer, rich"'
    checked = ["echo-ai --help", "echo-ai run --help"]
    reference = "bare Typer app run --help"
    commands = {
        baseline: [sys.executable, "-c", "import typer, rich"],
        checked[0]: [*echo_ai, "--help"],
        checked[1]: [*echo_ai, "run", "--help"],
        reference: [sys.executable, "-c", TYPER_SUBCOMMAND, "run", "--help"],
    }
    for argv in commands.values():  # warm the file cache and the bytecode
        cpu_seconds(argv)
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.runs):
        for label, argv in commands.items():
            samples[label].append(cpu_seconds(argv))
    medians = {label: statistics.median(times) for label, times in samples.items()}

    print(f"CPU time, user + system (median of {args.runs} runs):")
    for label, seconds in medians.items():
        print(f"  {label:34} {seconds * 1000:7.0f} ms")
    ratios = {label: medians[label] / medians[baseline] for label in checked}
    for label, ratio in ratios.items():
        verdict = "ok" if ratio <= TARGET_RATIO else "TOO SLOW"
        print(f"  ratio {label} / baseline: {ratio:5.2f}  (target <= {TARGET_RATIO:g}: {verdict})")
    print(f"  for reference, {reference} / baseline: {medians[reference] / medians[baseline]:5.2f}")
    if max(ratios.values()) > TARGET_RATIO:
        sys.exit(1)


if __name__ == "__main__":
    main()
