"""What several commands do: run an experiment with a progress bar, show it, export it.

The commands import this module when they run, never when the command line is built: it
brings in the database, the runner and the metrics, which ``--help`` must not pay for.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai import aio
from echo_ai.alerts.jobs import after_batch
from echo_ai.analysis.significance import BASELINE_RUNS
from echo_ai.billing.estimate import Estimate, estimate_with_history
from echo_ai.cli.errors import FAILURE, USAGE_ERROR, fail
from echo_ai.cli.render import (
    change_lines,
    money,
    print_report,
    report_document,
    side_by_side_renderables,
)
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.execution.providers import ensure_ready
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.experiments import export, history
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import ExperimentCreate, ExperimentReport
from echo_ai.privacy.audit import Actor
from echo_ai.providers.base import NOT_SAMPLES
from echo_ai.runs.models import Experiment, ExperimentStatus
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

console = Console()

T = TypeVar("T")

Prepare = Callable[[AsyncSession, Runtime], Awaitable[uuid.UUID]]
"""Queues or resumes an experiment in the given session with a use case acting as the
command line (its run starts once the session commits); returns its id."""


PLAIN_STEPS = 4
"""Without a terminal, progress is a line per quarter of each batch (log-friendly)."""


class BatchProgress:
    """Progress per batch: a live bar on a terminal, a few plain lines otherwise."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed, {task.fields[apart]} not counted"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not self.live,
        )
        self._tasks: dict[uuid.UUID, TaskID] = {}

    def add(self, batch_id: uuid.UUID, label: str, *, total: int, done: int) -> None:
        self._tasks[batch_id] = self.bar.add_task(
            label, total=total, completed=done, failed=0, apart=0
        )

    def advance(self, batch_id: uuid.UUID, outcome: str) -> None:
        """One more iteration stored: a complete answer (``success``), an answer that is not
        a sample (its class: counted apart), or a failed call (its error code)."""
        task_id = self._tasks[batch_id]
        task = self.bar.tasks[task_id]
        apart = task.fields["apart"] + (outcome in NOT_SAMPLES)
        failed = task.fields["failed"] + (outcome != "success" and outcome not in NOT_SAMPLES)
        self.bar.update(task_id, advance=1, failed=failed, apart=apart)
        if self.live or task.total is None:
            return
        done, total = int(task.completed), int(task.total)
        if done == total or done * PLAIN_STEPS // total != (done - 1) * PLAIN_STEPS // total:
            counts = f"{failed} failed" + (f", {apart} not counted" if apart else "")
            print(f"{task.description}: {done}/{total} ({counts})", file=sys.stderr)


def describe_estimate(estimated: Estimate, *, adaptive: bool) -> list[str]:
    """The lines ``echo-ai run`` prints before it runs: the total known, each provider's
    share and the basis of its tokens, the providers without a price. An ``adaptive`` run
    is estimated at its maximum: it may stop sooner."""
    most = "at most " if adaptive else ""
    lines = [
        f"estimate: {most}{money(estimated.known_usd)} for {most}{estimated.calls:,} call(s)"
        + (" (prices unknown for some providers)" if estimated.unpriced else "")
    ]
    for cost in estimated.providers:
        tokens = f"{cost.input_tokens:,} in, {cost.output_tokens:,} out per answer"
        lines.append(f"  {cost.provider}: {money(cost.usd)} ({tokens}: {cost.tokens_from})")
    return lines


async def confirm_estimate(
    runtime: Runtime, data: ExperimentCreate, *, yes: bool, interactive: bool
) -> None:
    """Print the run's estimate (on stderr: stdout stays the report) and, when its known
    cost is above ``billing.confirm_above_usd``, ask to go on unless ``yes``. Without a
    terminal to ask on (``interactive`` False) such a run is refused (exit code 2) rather
    than left waiting for an answer that cannot come. A provider without its key is
    refused first (as the run would be), before any estimate is printed."""
    async with transaction(runtime.session_factory) as session:
        await ensure_ready(
            session, runtime.settings, data.provider_specs, workspace_id=LOCAL_WORKSPACE_ID
        )
        estimated = await estimate_with_history(
            session,
            data.prompt,
            data.provider_specs,
            data.iterations,
            grounding=data.grounding,
            workspace_id=LOCAL_WORKSPACE_ID,
        )
    for line in describe_estimate(estimated, adaptive=data.precision is not None):
        typer.echo(line, err=True)
    threshold = runtime.settings.billing.confirm_above_usd
    if yes or estimated.known_usd <= threshold:
        return
    if not interactive:
        raise fail(
            f"the run is estimated at {money(estimated.known_usd)}, above the "
            f"{money(Decimal(str(threshold)))} that needs a confirmation, and there is no "
            "terminal to ask on: pass --yes to run it",
            USAGE_ERROR,
        )
    if not typer.confirm(
        f"Run it for about {money(estimated.known_usd)}?", default=False, err=True
    ):
        raise fail("not run: nothing was stored or sent", USAGE_ERROR)


async def run_and_report(
    settings: Settings,
    prepare: Prepare,
    *,
    as_json: bool,
    export_path: Path | None,
    before: Callable[[Runtime], Awaitable[None]] | None = None,
) -> None:
    """Queue or resume an experiment, run its batches here with progress per provider, then
    print it and write the CSV if asked: all in one runtime (one engine, one schema check).
    ``before`` runs first, outside the progress display (the estimate and its
    confirmation)."""
    progress = BatchProgress()
    async with open_runtime(settings, on_progress=progress.advance, executor="local") as runtime:

        async def evaluate_alerts(batch_run_id: uuid.UUID) -> None:
            # The run's alert rules, once it is complete (its e-mails wait in the mail
            # queue for `echo-ai serve`; its webhooks are sent now).
            await after_batch(runtime.session_factory, batch_run_id, settings)

        runtime.runner.on_finalized = evaluate_alerts
        if before is not None:
            await before(runtime)
        with progress.bar:
            async with transaction(runtime.session_factory) as session:
                experiment_id = await prepare(session, runtime)
                experiment = await experiment_service.get(session, experiment_id, runs=1)
                for batch in experiment.batch_runs:
                    label = f"{batch.provider}:{batch.model}"
                    progress.add(
                        batch.id,
                        label + (" (synthetic)" if batch.synthetic else ""),
                        total=batch.iterations_requested,
                        done=batch.stored,
                    )
            # Committed: the run the use case queued has now run, in this process.
        await report_and_export(runtime, experiment_id, as_json=as_json, export_path=export_path)


def in_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` in one runtime opened for it: the body of a command that reads or writes
    stored experiments. Such commands queue nothing, so Celery is never set up for them."""

    async def go() -> T:
        async with open_runtime(settings, executor="local") as runtime:
            return await work(runtime)

    return aio.run(go())


async def find(session: AsyncSession, reference: str, *, runs: int | None = None) -> Experiment:
    """The experiment of the local workspace (the command line's) that ``reference`` names:
    its id or a unique prefix of it; with the batches of its latest ``runs`` runs (all when
    None)."""
    experiment_id = await experiment_service.resolve_id(
        session, reference, workspace_id=LOCAL_WORKSPACE_ID
    )
    return await experiment_service.get(
        session, experiment_id, workspace_id=LOCAL_WORKSPACE_ID, runs=runs
    )


async def show(
    runtime: Runtime, reference: str, *, as_json: bool, baseline_runs: int = BASELINE_RUNS
) -> ExperimentReport:
    """Print an experiment's report (``reference``: its id or a unique prefix), with its
    latest run tested against the previous run and the baseline of ``baseline_runs``."""
    async with transaction(runtime.session_factory) as session:
        experiment = await find(session, reference, runs=experiment_service.RECENT_RUNS)
        report = await experiment_service.report(session, experiment)
        tested = await history.run_significance(session, experiment, baseline_runs=baseline_runs)
    changes = tested[0] if tested else None
    if as_json:
        print(json.dumps(report_document(report, changes), indent=2))
    else:
        print_report(console, report, changes)
    return report


async def compare(runtime: Runtime, reference_a: str, reference_b: str, *, as_json: bool) -> None:
    """Print experiment A's latest run against B's (:func:`history.experiment_pair`)."""
    async with transaction(runtime.session_factory) as session:
        first = await find(session, reference_a, runs=0)
        second = await find(session, reference_b, runs=0)
        pair = await history.experiment_pair(session, first, second)
    if as_json:
        print(pair.out().model_dump_json(indent=2))
        return
    console.print(f"A: {first.name} (run {pair.first_run.round})", markup=False)
    console.print(f"B: {second.name} (run {pair.second_run.round})", markup=False)
    for line in pair.differences or ["they asked alike"]:
        console.print(f"  {line}", markup=False)
    for line in change_lines("changes from A to B", pair.comparison.tests):
        console.print(line)


async def side_by_side(runtime: Runtime, references: list[str], *, as_json: bool) -> None:
    """Print several experiments' latest runs side by side (:func:`history.side_by_side`)."""
    history.check_side_by_side(len(references))
    async with transaction(runtime.session_factory) as session:
        found = [await find(session, reference, runs=0) for reference in references]
        table = await history.side_by_side(session, found)
    if as_json:
        print(table.out().model_dump_json(indent=2))
        return
    for renderable in side_by_side_renderables(table):
        console.print(renderable)


def export_format(path: Path) -> export.Format:
    """JSON for ``.json``, JSON Lines for ``.jsonl``, CSV for any other file name."""
    suffix = path.suffix.lower().lstrip(".")
    return export.Format(suffix) if suffix in set(export.Format) else export.Format.CSV


async def export_file(
    runtime: Runtime, reference: str, path: Path, fmt: export.Format = export.Format.CSV
) -> int:
    """Stream every iteration of an experiment to ``path`` (an export audited as the
    command line's); the number written."""
    async with transaction(runtime.session_factory) as session:
        experiment = await find(session, reference)
        source = await export.begin(session, experiment, fmt, actor=Actor.cli())
    with path.open("w", newline="", encoding="utf-8") as out:
        return await export.write(runtime.session_factory, source, out, fmt)


async def report_and_export(
    runtime: Runtime, experiment_id: uuid.UUID, *, as_json: bool, export_path: Path | None
) -> None:
    """After a run: print the results, write the export file if asked, fail (exit 1) if
    a provider failed (nothing worked, or the results are partial), if the budget stopped
    it, or if batches are still unfinished (another process holds them: this one ran
    nothing of theirs)."""
    report = await show(runtime, str(experiment_id), as_json=as_json)
    status = report.experiment.status
    if export_path is not None:
        rows = await export_file(
            runtime, str(experiment_id), export_path, export_format(export_path)
        )
        print(f"wrote {rows} iterations to {export_path}", file=sys.stderr)
    if status == ExperimentStatus.FAILED:
        raise fail("the experiment failed: no provider produced a complete answer", FAILURE)
    if status in (ExperimentStatus.QUEUED, ExperimentStatus.RUNNING):
        raise fail(
            f"the experiment is still {status}: another process is running its batches; "
            f"`echo-ai experiments show {str(experiment_id)[:8]}` follows it",
            FAILURE,
        )
    if status == ExperimentStatus.BUDGET_EXHAUSTED:
        raise fail(
            "the budget stopped the experiment before every iteration ran (see above); once "
            f"it allows, `echo-ai experiments resume {str(experiment_id)[:8]}` runs the rest",
            FAILURE,
        )
    if status == ExperimentStatus.PARTIAL:
        failed = ", ".join(report.failed_providers)
        raise fail(
            f"the experiment is partial: {failed} failed (see above); once the cause is "
            f"fixed, `echo-ai experiments resume {str(experiment_id)[:8]}` runs what is missing",
            FAILURE,
        )
