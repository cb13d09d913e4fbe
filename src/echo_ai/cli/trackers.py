"""``echo-ai trackers ...``: sets of prompts, one experiment each, with figures per prompt,
per topic and overall (intervals over prompts as clusters)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from echo_ai.execution.runtime import Runtime
    from echo_ai.experiments.tracker_schemas import (
        PooledRateOut,
        TrackerDetail,
        TrackerOut,
        TrackerPromptIn,
    )

app = typer.Typer(
    help="Trackers: many prompts (optionally in topics) asked alike, with pooled figures."
)

TrackerArgument = Annotated[
    str,
    typer.Argument(metavar="TRACKER", help="A tracker's id, its first 8 characters, or its name."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
PromptsOption = Annotated[
    Path,
    typer.Option(
        "--prompts",
        help="The prompts: a CSV file with a header naming 'prompt' (and optionally 'topic'), "
        "or a text file with one prompt a line ('topic: question' gives a topic).",
    ),
]


def _read_prompts(path: Path) -> list[TrackerPromptIn]:
    from echo_ai.errors import AppError
    from echo_ai.experiments import prompt_files

    try:
        data = path.read_bytes()
    except OSError as error:
        raise AppError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        if path.suffix.lower() == ".csv":
            return prompt_files.from_csv(data)
        return prompt_files.from_lines(prompt_files.decode(data))
    except AppError as error:
        raise AppError(f"{path}: {error.message}") from None


def _interval(rate: PooledRateOut) -> str:
    if rate.value is None:
        return "no answers yet"
    text = f"{rate.value:.1%}"
    if rate.ci_low is not None and rate.ci_high is not None:
        text += f" [{rate.ci_low:.1%}, {rate.ci_high:.1%}]"
    return text


def _print_detail(detail: TrackerDetail, *, as_json: bool) -> None:
    """A tracker's figures: one JSON document, or tables."""
    if as_json:
        print(detail.model_dump_json(indent=2))
        return
    from rich.table import Table

    from echo_ai.cli import flows

    synthetic = " (SYNTHETIC: demo provider)" if detail.synthetic else ""
    flows.console.print(f"tracker {detail.name} ({str(detail.id)[:8]}){synthetic}")
    flows.console.print(f"target {detail.target}; providers {', '.join(detail.providers)}")
    flows.console.print(detail.note)
    table = Table(title="pooled over prompts (95% intervals over prompts as clusters)")
    for column in ("group", "prompts", "visibility", "top-1", "top-3", "citation rate", "note"):
        table.add_column(column)
    groups = [("overall", detail.overall)] + [
        (group.topic or "(no topic)", group) for group in detail.by_topic
    ]
    for label, group in groups:
        table.add_row(
            label,
            f"{group.prompts_with_results}/{group.prompts}",
            _interval(group.visibility),
            _interval(group.top1),
            _interval(group.top3),
            _interval(group.citation_rate),
            group.visibility.note or "",
        )
    flows.console.print(table)
    prompts = Table(title="per prompt (latest complete run, Wilson intervals)")
    for column in ("experiment", "topic", "status", "visibility", "prompt"):
        prompts.add_column(column)
    for row in detail.prompt_results:
        rate = row.visibility
        shown = "no complete run" if rate is None or rate.value is None else f"{rate.value:.1%}"
        if rate is not None and rate.ci_low is not None and rate.ci_high is not None:
            shown += f" [{rate.ci_low:.1%}, {rate.ci_high:.1%}]"
        prompts.add_row(
            str(row.experiment_id)[:8], row.topic or "", str(row.status), shown, row.prompt
        )
    flows.console.print(prompts)
    if len(detail.over_time) > 1:
        over_time = Table(title="overall visibility over time (95% intervals over prompts)")
        for column in ("runs started", "prompts", "visibility"):
            over_time.add_column(column)
        for point in detail.over_time:
            over_time.add_row(
                point.started_at.strftime("%Y-%m-%d %H:%M UTC"),
                str(point.prompts),
                _interval(point.visibility) + (" synthetic" if point.synthetic else ""),
            )
        flows.console.print(over_time)


@app.command()
@friendly_errors
def create(
    name: Annotated[str, typer.Argument(help="The tracker's name.")],
    prompts_file: PromptsOption,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="An experiment file (TOML, like examples/crm.toml) for the brands, providers "
            "and the rest; its prompt is ignored, flags override it.",
        ),
    ] = None,
    brand: Annotated[
        str | None,
        typer.Option(help='The brand to track, e.g. "HubSpot" or "HubSpot=HubSpot CRM".'),
    ] = None,
    competitor: Annotated[
        list[str], typer.Option(help='A competitor, "Name" or "Name=alias1,alias2" (repeatable).')
    ] = [],  # noqa: B006
    provider: Annotated[
        list[str], typer.Option(help="demo, openai:MODEL, ... (repeatable; default demo).")
    ] = [],  # noqa: B006
    iterations: Annotated[
        int | None, typer.Option(help="Answers to sample per provider and prompt (default 50).")
    ] = None,
    persona: Annotated[str | None, typer.Option(help="Who asks (sent before each prompt).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a tracker, run every prompt on every provider here, and print its figures.
    The whole set is admitted at once: a set past the plan or the budget stores nothing."""
    from echo_ai.cli import flows, options
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import trackers
    from echo_ai.experiments.tracker_schemas import TrackerCreate
    from echo_ai.privacy.audit import Actor
    from echo_ai.workspaces.local import local_workspace

    prompts = _read_prompts(prompts_file)
    data = options.experiment_input(
        config=config,
        prompt=prompts[0].prompt,
        persona=persona,
        brand=brand,
        aliases=[],
        domains=[],
        competitors=competitor,
        providers=provider,
        iterations=iterations,
        temperature=None,
        grounding=None,
        require_grounding=False,
        demo_probabilities=[],
        precision=None,
        precision_metric=None,
        min_answers=None,
    )
    common = data.model_dump(mode="json", exclude={"prompt", "name"}, exclude_none=True)
    tracker_input = TrackerCreate.model_validate(
        {**common, "name": name, "prompts": [p.model_dump() for p in prompts]}
    )

    async def go(runtime: Runtime) -> TrackerDetail:
        async with transaction(runtime.session_factory) as session:
            workspace = await local_workspace(session)
            tracker, _ = await trackers.create(
                session,
                tracker_input,
                workspace_id=workspace.id,
                actor=Actor.cli(),
                runtime=runtime,
            )
        # Committed: the prompts have run in this process.
        async with transaction(runtime.session_factory) as session:
            return await trackers.detail(session, tracker)

    detail = flows.in_runtime(get_settings(), go)
    _print_detail(detail, as_json=as_json)


@app.command("add-prompts")
@friendly_errors
def add_prompts(
    tracker: TrackerArgument, prompts_file: PromptsOption, as_json: JsonOption = False
) -> None:
    """Run more prompts in a tracker, asked as its other prompts are, and print its figures."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import trackers
    from echo_ai.privacy.audit import Actor
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

    prompts = _read_prompts(prompts_file)

    async def go(runtime: Runtime) -> TrackerDetail:
        async with transaction(runtime.session_factory) as session:
            found = await trackers.resolve(session, LOCAL_WORKSPACE_ID, tracker)
            await trackers.add_prompts(session, found, prompts, actor=Actor.cli(), runtime=runtime)
        async with transaction(runtime.session_factory) as session:
            return await trackers.detail(session, found)

    detail = flows.in_runtime(get_settings(), go)
    _print_detail(detail, as_json=as_json)


@app.command("list")
@friendly_errors
def list_trackers(as_json: JsonOption = False) -> None:
    """List the trackers of the command line (its local workspace), newest first."""
    from rich.table import Table

    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import trackers
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

    async def go(runtime: Runtime) -> list[TrackerOut]:
        async with transaction(runtime.session_factory) as session:
            return await trackers.list_all(session, LOCAL_WORKSPACE_ID)

    found = flows.in_runtime(get_settings(), go)
    if as_json:
        print(json.dumps([t.model_dump(mode="json") for t in found], indent=2))
        return
    table = Table(title="trackers", title_justify="left")
    for column in ("id", "created (UTC)", "prompts", "topics", "name"):
        table.add_column(column)
    for item in found:
        table.add_row(
            str(item.id)[:8],
            item.created_at.strftime("%Y-%m-%d %H:%M"),
            str(item.prompts),
            ", ".join(item.topics),
            item.name,
        )
    flows.console.print(table)


@app.command()
@friendly_errors
def show(tracker: TrackerArgument, as_json: JsonOption = False) -> None:
    """Show a tracker's figures overall, per topic (pooled over prompts, intervals over
    prompts as clusters) and per prompt."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import trackers
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

    async def go(runtime: Runtime) -> TrackerDetail:
        async with transaction(runtime.session_factory) as session:
            found = await trackers.resolve(session, LOCAL_WORKSPACE_ID, tracker)
            return await trackers.detail(session, found)

    detail = flows.in_runtime(get_settings(), go)
    _print_detail(detail, as_json=as_json)


@app.command("export")
@friendly_errors
def export_command(
    tracker: TrackerArgument, path: Annotated[Path, typer.Argument(metavar="FILE")]
) -> None:
    """Write a tracker's figures to a file: JSON if it ends in .json, CSV otherwise; one
    row per figure overall, per topic, per prompt and over time, with counts and 95%
    intervals (columns: docs/exports.md, "Tracker exports")."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import tracker_export, trackers
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

    async def go(runtime: Runtime) -> TrackerDetail:
        async with transaction(runtime.session_factory) as session:
            found = await trackers.resolve(session, LOCAL_WORKSPACE_ID, tracker)
            return await trackers.detail(session, found)

    detail = flows.in_runtime(get_settings(), go)
    is_json = path.suffix.lower() == ".json"
    fmt = tracker_export.Format.JSON if is_json else tracker_export.Format.CSV
    with path.open("w", newline="", encoding="utf-8") as out:
        for text in tracker_export.chunks(detail, fmt):
            out.write(text)
    synthetic = " (synthetic: demo provider)" if detail.synthetic else ""
    print(f"wrote the figures of tracker {detail.name}{synthetic} to {path}", file=sys.stderr)


@app.command()
@friendly_errors
def delete(
    tracker: TrackerArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete a tracker with its experiments, their runs and stored answers."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import trackers
    from echo_ai.privacy.audit import Actor
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

    if not yes and not typer.confirm(f"Delete tracker {tracker} and all its experiments?"):
        raise typer.Exit(1)

    async def go(runtime: Runtime) -> int:
        async with transaction(runtime.session_factory) as session:
            found = await trackers.resolve(session, LOCAL_WORKSPACE_ID, tracker)
            return await trackers.delete(session, found, actor=Actor.cli())

    deleted = flows.in_runtime(get_settings(), go)
    print(f"deleted tracker {tracker} and {deleted} experiments")


@app.command()
@friendly_errors
def suggest(
    brand: Annotated[str, typer.Option(help="The brand the questions are about.")],
    competitor: Annotated[list[str], typer.Option(help="A competitor's name (repeatable).")] = [],  # noqa: B006
    keyword: Annotated[
        list[str], typer.Option(help="A topic or keyword to cover (repeatable).")
    ] = [],  # noqa: B006
    category: Annotated[
        str | None, typer.Option(help='What the brand sells, e.g. "CRM software".')
    ] = None,
    provider: Annotated[
        str, typer.Option(help="Who writes them: demo (offline, synthetic) or vendor:MODEL.")
    ] = "demo",
    count: Annotated[int, typer.Option(min=1, max=50, help="How many candidates.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Print candidate prompts for a tracker, written by a provider from the brand, its
    competitors, keywords and category: nothing is stored or run. A real provider's call
    counts in the local workspace's spend (a "candidate prompts" line of `echo-ai costs`)
    and its budget. Review them, keep the
    good ones in a file, then `echo-ai trackers create NAME --prompts FILE`."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import utcnow
    from echo_ai.errors import AppError
    from echo_ai.experiments import candidates
    from echo_ai.experiments.tracker_schemas import CandidatesOut
    from echo_ai.providers.registry import ProviderSpec
    from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

    try:
        spec = ProviderSpec.parse(provider)
    except ValueError as error:
        raise AppError(str(error)) from None
    subject = candidates.Subject(brands=[brand, *competitor], keywords=keyword, category=category)

    async def go(runtime: Runtime) -> CandidatesOut:
        return await candidates.generate(
            runtime, LOCAL_WORKSPACE_ID, spec, subject, count, now=utcnow()
        )

    found = flows.in_runtime(get_settings(), go)
    if as_json:
        print(found.model_dump_json(indent=2))
        return
    if found.synthetic:
        print("# SYNTHETIC: written offline from templates by the demo provider", file=sys.stderr)
    elif found.cost_usd is not None:
        print(f"# {found.provider}: cost ${found.cost_usd}", file=sys.stderr)
    for line in found.candidates:
        print(line)
