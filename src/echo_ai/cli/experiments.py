"""``echo-ai experiments ...``: list, show, export, re-score, resume, and who else gets
recommended (discovered names, added as competitors)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from echo_ai.execution.runtime import Runtime
    from echo_ai.runs.models import Experiment

app = typer.Typer(
    help="List, show, export, re-score and resume the experiments run from this command line;"
    " see who else their answers recommend and add them as competitors."
)

StatusName = Literal[
    "queued", "running", "completed", "partial", "failed", "cancelled", "budget_exhausted"
]
"""The values of ``ExperimentStatus``, spelled here so that building the command line does
not import the models (and SQLAlchemy); ``tests/cli/test_startup.py`` keeps them equal."""

IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="An experiment id or its first 8 characters.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

BASELINE_RUNS = 4
"""``echo_ai.analysis.significance.BASELINE_RUNS``, spelled here so that building the
command line does not import the statistics; ``tests/cli`` keeps them equal."""


@app.command("list")
@friendly_errors
def list_experiments(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    status: Annotated[StatusName | None, typer.Option(help="Only this status.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the recent experiments of the command line (its local workspace)."""
    import json

    from rich.table import Table

    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import service as experiment_service
    from echo_ai.runs import service as run_service
    from echo_ai.runs.models import ExperimentStatus
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

    wanted = None if status is None else ExperimentStatus(status)

    async def load(runtime: Runtime) -> list[Experiment]:
        async with transaction(runtime.session_factory) as session:
            return await experiment_service.list_recent(
                session, limit=limit, status=wanted, workspace_id=LOCAL_WORKSPACE_ID
            )

    experiments = flows.in_runtime(get_settings(), load)
    if as_json:
        print(json.dumps([experiment_service.summary(e) for e in experiments], indent=2))
        return
    table = Table(title="experiments", title_justify="left")
    for column in ("id", "created (UTC)", "status", "providers", "iterations", "name"):
        table.add_column(column)
    for experiment in experiments:
        synthetic = any(batch.synthetic for batch in experiment.batch_runs)
        failed = run_service.failed_providers(experiment_service.latest_batches(experiment))
        providers = [f"{p} (failed)" if p in failed else p for p in experiment.providers]
        table.add_row(
            str(experiment.id)[:8],
            experiment.created_at.strftime("%Y-%m-%d %H:%M"),
            str(experiment.status),
            ", ".join(providers) + (" (synthetic)" if synthetic else ""),
            str(experiment.iterations),
            experiment.name,
        )
    flows.console.print(table)


@app.command()
@friendly_errors
def show(
    experiment_id: IdArgument,
    as_json: JsonOption = False,
    baseline_runs: Annotated[
        int,
        typer.Option(
            "--baseline-runs",
            min=1,
            max=20,
            help="Previous runs pooled as the baseline the latest run is tested against.",
        ),
    ] = BASELINE_RUNS,
) -> None:
    """Show an experiment's metrics per provider and combined, and which figures changed
    significantly since the previous run and against the baseline (false discovery rate
    controlled at 5%)."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings

    async def go(runtime: Runtime) -> None:
        await flows.show(runtime, experiment_id, as_json=as_json, baseline_runs=baseline_runs)

    flows.in_runtime(get_settings(), go)


@app.command()
@friendly_errors
def compare(
    experiment_a: Annotated[str, typer.Argument(help="Experiment A: its id or a unique prefix.")],
    experiment_b: Annotated[str, typer.Argument(help="Experiment B: its id or a unique prefix.")],
    as_json: JsonOption = False,
) -> None:
    """Compare two experiments' latest runs side by side, e.g. the same question asked as
    two personas or from two places: how they asked differently, and which figures changed
    from A to B significantly (every figure tested together, false discovery rate
    controlled at 5%)."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings

    async def go(runtime: Runtime) -> None:
        await flows.compare(runtime, experiment_a, experiment_b, as_json=as_json)

    flows.in_runtime(get_settings(), go)


@app.command("side-by-side")
@friendly_errors
def side_by_side(
    experiments: Annotated[
        list[str],
        typer.Argument(
            help="The experiments (ids or unique prefixes), A first: from 2 to 8.",
            show_default=False,
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show several experiments' latest runs side by side, e.g. one question asked as
    several personas or from several places: how each asked differently from A, every
    figure with its difference from A's, and which differences are significant (every
    test of the table adjusted together, false discovery rate controlled at 5%)."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings

    async def go(runtime: Runtime) -> None:
        await flows.side_by_side(runtime, experiments, as_json=as_json)

    flows.in_runtime(get_settings(), go)


@app.command("export")
@friendly_errors
def export_command(
    experiment_id: IdArgument, path: Annotated[Path, typer.Argument(metavar="FILE")]
) -> None:
    """Write every iteration of an experiment (answers included) to a file: JSON if it
    ends in .json, JSON Lines in .jsonl, CSV otherwise (columns: docs/exports.md)."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings

    async def go(runtime: Runtime) -> int:
        return await flows.export_file(runtime, experiment_id, path, flows.export_format(path))

    rows = flows.in_runtime(get_settings(), go)
    print(f"wrote {rows} iterations to {path}", file=sys.stderr)


@app.command()
@friendly_errors
def rescore(
    experiment_id: IdArgument,
    brands_file: Annotated[
        Path | None,
        typer.Option("--brands", help="A TOML file whose [brands] table replaces the definitions."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-score stored answers with the (changed) brand definitions (mentions, ranks,
    citations, sentiment): no new LLM calls."""
    from echo_ai.cli import flows, options
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import service as experiment_service
    from echo_ai.privacy.audit import Actor

    brands = options.brands_from_file(brands_file) if brands_file else None

    async def go(runtime: Runtime) -> None:
        async with transaction(runtime.session_factory) as session:
            experiment = await flows.find(session, experiment_id)
            await experiment_service.rescore(session, experiment, actor=Actor.cli(), brands=brands)
        await flows.show(runtime, experiment_id, as_json=as_json)

    flows.in_runtime(get_settings(), go)


@app.command()
@friendly_errors
def judge(
    experiment_id: IdArgument,
    provider: Annotated[
        str | None,
        typer.Option(
            help="The judge: vendor:MODEL (e.g. openai:gpt-4o-mini), or demo (offline, "
            "synthetic: repeats the lexicon's verdicts). Needed unless --resume."
        ),
    ] = None,
    run: Annotated[
        int | None, typer.Option(min=1, help="The run to judge (default: the latest).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Go on with the experiment's judging that was interrupted (queued or "
            "running, no process running it), after its last stored answers.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm the cost.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Judge the sentiment of a finished run's stored answers with a model (structured
    output, one call per complete answer naming a tracked brand; no new answers), here,
    with its progress on stderr. A judging covers one run (the latest unless --run), all
    its complete answers, and refuses a run of more than 10,000. The judged brands show
    the judge as their scorer; an answer whose verdict is invalid or whose call failed
    keeps the lexicon's. The cost counts in the month's spend ("sentiment judge"); the
    estimate is printed first, and above ECHO_AI_BILLING__CONFIRM_ABOVE_USD confirmed.
    Verdicts are stored as they come: interrupted (Ctrl-C), what was judged is kept, and
    --resume (or the next `echo-ai serve`) goes on with the rest. `experiments rescore`
    goes back to the lexicon."""
    from decimal import Decimal

    from echo_ai.cli import flows
    from echo_ai.cli.errors import USAGE_ERROR, fail
    from echo_ai.cli.render import judge_lines, money
    from echo_ai.config import get_settings
    from echo_ai.db import transaction, utcnow
    from echo_ai.experiments import sentiment_judge
    from echo_ai.experiments.judge_schemas import SentimentJudgeOut
    from echo_ai.privacy.audit import Actor

    if provider is None and not resume:
        raise fail("name the judge with --provider (or --resume an interrupted one)", USAGE_ERROR)

    def progress(now: SentimentJudgeOut) -> None:
        print(
            f"  {now.read:,} of {now.answers:,} answers done, {now.judged:,} judged",
            file=sys.stderr,
        )

    async def go(runtime: Runtime) -> SentimentJudgeOut:
        judging_id = await (resumed(runtime) if resume else started(runtime))
        await sentiment_judge.run(runtime.session_factory, runtime, judging_id, on_chunk=progress)
        async with transaction(runtime.session_factory) as session:
            experiment = await flows.find(session, experiment_id)
            return sentiment_judge.out_of(await sentiment_judge.latest(session, experiment.id))

    async def resumed(runtime: Runtime) -> uuid.UUID:
        async with transaction(runtime.session_factory) as session:
            experiment = await flows.find(session, experiment_id)
            judging = await sentiment_judge.active(session, experiment.id)
            if judging is None:
                raise fail(
                    "no judging of this experiment is queued or running: nothing to resume",
                    USAGE_ERROR,
                )
            print(
                f"resuming the judging of run {judging.round} by {judging.provider}: "
                f"{judging.read:,} of {judging.answers:,} answers done",
                file=sys.stderr,
            )
            return judging.id

    async def started(runtime: Runtime) -> uuid.UUID:
        assert provider is not None
        spec = sentiment_judge.parse_provider(provider)
        async with transaction(runtime.session_factory) as session:
            experiment = await flows.find(session, experiment_id)
            estimated = await sentiment_judge.estimate(session, experiment, spec, run=run)
        cost = None if estimated.cost_usd is None else Decimal(estimated.cost_usd)
        synthetic = " (synthetic)" if estimated.synthetic else ""
        print(
            f"judging run {estimated.run}: {estimated.answers:,} complete answers with "
            f"{estimated.provider}{synthetic}: about {money(cost)} at most",
            file=sys.stderr,
        )
        threshold = Decimal(str(runtime.settings.billing.confirm_above_usd))
        if not yes and cost is not None and cost > threshold:
            if not sys.stdin.isatty():
                raise fail(
                    f"judging is estimated at up to {money(cost)}, above the {money(threshold)} "
                    "that needs a confirmation, and there is no terminal to ask on: pass --yes",
                    USAGE_ERROR,
                )
            if not typer.confirm(f"Judge for up to {money(cost)}?", default=False, err=True):
                raise fail("not judged: nothing was sent", USAGE_ERROR)
        async with transaction(runtime.session_factory) as session:
            experiment = await flows.find(session, experiment_id)
            judging = await sentiment_judge.start(
                session,
                runtime,
                experiment,
                spec,
                actor=Actor.cli(),
                now=utcnow(),
                run=run,
                judge_later=None,
            )
            return judging.id

    out = flows.in_runtime(get_settings(), go)
    if as_json:
        print(out.model_dump_json(indent=2))
        return
    for line in judge_lines(out):
        print(line)


@app.command()
@friendly_errors
def resume(experiment_id: IdArgument, as_json: JsonOption = False) -> None:
    """Run the iterations an interrupted or failed experiment is missing (never repeats one).

    Refused while another process still runs one of its batches (its lease lapses
    ECHO_AI_WORKER__LEASE_SECONDS, 60 by default, after that process stops) or their chunks
    wait in the queue."""
    from echo_ai import aio
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.experiments import service as experiment_service
    from echo_ai.privacy.audit import Actor

    async def resume_it(session: AsyncSession, runtime: Runtime) -> uuid.UUID:
        experiment = await flows.find(session, experiment_id)
        await experiment_service.resume(session, experiment, actor=Actor.cli(), runtime=runtime)
        return experiment.id

    aio.run(flows.run_and_report(get_settings(), resume_it, as_json=as_json, export_path=None))


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


@app.command()
@friendly_errors
def discovered(
    experiment_id: IdArgument,
    run: Annotated[int | None, typer.Option(min=1, help="The run (default: the latest).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Who else gets recommended: brands and products the answers name that the experiment
    does not track, named in at least two answers, with their mention rates and 95%
    intervals (all providers pooled, and per provider). Add one with add-competitor."""
    import json

    from rich.table import Table

    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import discovered as discovery
    from echo_ai.experiments.schemas import DiscoveredOut

    async def load(runtime: Runtime) -> DiscoveredOut:
        async with transaction(runtime.session_factory) as session:
            experiment = await flows.find(session, experiment_id)
            report = await discovery.discovered(session, experiment, run=run)
            return DiscoveredOut.of(report, min_answers=discovery.MIN_ANSWERS)

    found = flows.in_runtime(get_settings(), load)
    if as_json:
        print(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    label = " (synthetic: demo provider)" if found.synthetic else ""
    if not found.providers:
        flows.console.print(f"run {found.run} has no finished batch yet")
        return
    if not found.examined:
        flows.console.print(
            f"run {found.run}: its answers were scored before names were looked for; "
            "re-score the experiment (echo-ai experiments rescore) to find them"
        )
        return
    table = Table(
        title=f"also recommended, run {found.run}{label}: {found.answers} answers",
        title_justify="left",
    )
    for column in ("name", "answers", "rate", "95% interval", *found.providers):
        table.add_column(column)
    for item in found.names:
        rate = item.mention_rate
        cells = [
            "–" if cell is None else f"{_percent(cell.value)} ({cell.numerator}/{cell.denominator})"
            for cell in item.per_provider.values()
        ]
        table.add_row(
            item.name,
            f"{rate.numerator}/{rate.denominator}",
            _percent(rate.value),
            f"{_percent(rate.ci_low)}–{_percent(rate.ci_high)}",
            *cells,
        )
    flows.console.print(table)
    if not found.names:
        flows.console.print("no untracked name recurs in this run's answers")


@app.command("add-competitor")
@friendly_errors
def add_competitor(
    experiment_id: IdArgument,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The name to track.")],
    alias: Annotated[
        list[str] | None,
        typer.Option(
            "--alias",
            help="Another spelling to match (repeatable); default: the spellings found.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Track NAME (typically one ``discovered`` lists) as a competitor, then re-score the
    stored answers with it: no new LLM calls."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import discovered as discovery
    from echo_ai.privacy.audit import Actor

    async def go(runtime: Runtime) -> None:
        async with transaction(runtime.session_factory) as session:
            experiment = await flows.find(session, experiment_id)
            await discovery.add_competitor(
                session, experiment, name=name, aliases=alias or None, actor=Actor.cli()
            )
        await flows.show(runtime, experiment_id, as_json=as_json)

    flows.in_runtime(get_settings(), go)
