"""``echo-ai``: run experiments, look at results, manage the local database."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from echo_ai import aio, migrate
from echo_ai.cli import options
from echo_ai.cli.errors import FAILURE, fail, friendly_errors
from echo_ai.cli.render import print_report, report_document
from echo_ai.config import Settings, get_settings
from echo_ai.db import create_engine, transaction
from echo_ai.experiments import export
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.models import Experiment, ExperimentStatus
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.providers.registry import VENDORS, credentials
from echo_ai.runs.providers import ensure_configured
from echo_ai.runtime import open_runtime

app = typer.Typer(
    name="echo-ai",
    help="Measure how often AI assistants mention a brand, with confidence intervals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
experiments_app = typer.Typer(help="List, show, export, re-score and resume experiments.")
app.add_typer(experiments_app, name="experiments")

console = Console()


_run = aio.run


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
        disable=not sys.stderr.isatty(),
    )


async def _execute(
    settings: Settings, data: ExperimentCreate | None, experiment_id: str | None
) -> Experiment:
    """Create (or reopen) an experiment and run its batches with a progress bar."""
    progress = _progress()
    tasks: dict[uuid.UUID, Any] = {}

    def advance(batch_run_id: uuid.UUID, success: bool) -> None:
        task = tasks[batch_run_id]
        failed = progress.tasks[task].fields["failed"] + (0 if success else 1)
        progress.update(task, advance=1, failed=failed)

    async with open_runtime(settings, on_progress=advance) as runtime:
        async with transaction(runtime.session_factory) as session:
            if data is not None:
                created = await experiment_service.create(
                    session, data, chunk_size=settings.runner.chunk_size
                )
                target_id = created.id
            else:
                assert experiment_id is not None
                target_id = await experiment_service.resolve_id(session, experiment_id)
                await experiment_service.reopen(
                    session, await experiment_service.get(session, target_id)
                )
            experiment = await experiment_service.get(session, target_id)
            done = await experiment_service.stored_counts(session, experiment)
        with progress:
            for batch in experiment.batch_runs:
                label = f"{batch.provider}:{batch.model}" + (
                    " (synthetic)" if batch.synthetic else ""
                )
                tasks[batch.id] = progress.add_task(
                    label,
                    total=batch.iterations_requested,
                    completed=done.get(batch.id, 0),
                    failed=0,
                )
            await runtime.executor.run_experiment(experiment.id)
        return experiment


async def _show(
    settings: Settings, experiment_id: uuid.UUID | str, *, as_json: bool
) -> ExperimentStatus:
    async with open_runtime(settings) as runtime, transaction(runtime.session_factory) as session:
        if isinstance(experiment_id, str):
            experiment_id = await experiment_service.resolve_id(session, experiment_id)
        experiment = await experiment_service.get(session, experiment_id)
        report = await experiment_service.report(session, experiment)
    if as_json:
        print(json.dumps(report_document(report), indent=2))
    else:
        print_report(console, report)
    return experiment.status


async def _export(settings: Settings, experiment_id: uuid.UUID | str, path: Path) -> int:
    async with open_runtime(settings) as runtime, transaction(runtime.session_factory) as session:
        if isinstance(experiment_id, str):
            experiment_id = await experiment_service.resolve_id(session, experiment_id)
        experiment = await experiment_service.get(session, experiment_id)
        with path.open("w", newline="", encoding="utf-8") as out:
            return await export.write_csv(session, experiment, out)


@app.command()
@friendly_errors
def run(
    config: Annotated[
        Path | None, typer.Argument(help="An experiment file (TOML); flags override it.")
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="The question a customer would ask.")] = None,
    brand: Annotated[
        str | None,
        typer.Option(help='The brand to track, e.g. "HubSpot" or "HubSpot=HubSpot CRM".'),
    ] = None,
    alias: Annotated[list[str], typer.Option(help="Another name of the brand (repeatable).")] = [],  # noqa: B006
    domain: Annotated[list[str], typer.Option(help="A web domain of the brand (repeatable).")] = [],  # noqa: B006
    competitor: Annotated[
        list[str], typer.Option(help='A competitor, "Name" or "Name=alias1,alias2" (repeatable).')
    ] = [],  # noqa: B006
    provider: Annotated[
        list[str],
        typer.Option(
            help="demo, openai:MODEL, anthropic:MODEL, perplexity:MODEL, gemini:MODEL, "
            "openai_compatible:MODEL (repeatable; default demo)."
        ),
    ] = [],  # noqa: B006
    iterations: Annotated[
        int | None, typer.Option(help="Answers to sample per provider (1-10000; default 50).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default 1.0).")
    ] = None,
    grounding: Annotated[
        bool | None,
        typer.Option("--grounding/--no-grounding", help="Let the model search the web."),
    ] = None,
    demo_probability: Annotated[
        list[str], typer.Option(help="Demo provider only: NAME=P, chance an answer mentions NAME.")
    ] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    export_path: Annotated[
        Path | None, typer.Option("--export", help="Also write every iteration to this CSV file.")
    ] = None,
) -> None:
    """Run an experiment now and print its metrics per provider."""
    data = options.experiment_input(
        config=config,
        prompt=prompt,
        brand=brand,
        aliases=alias,
        domains=domain,
        competitors=competitor,
        providers=provider,
        iterations=iterations,
        temperature=temperature,
        grounding=grounding,
        demo_probabilities=demo_probability,
    )
    settings = get_settings()
    ensure_configured(data.provider_specs)
    experiment = _run(_execute(settings, data, None))
    _finish(settings, experiment.id, as_json=as_json, export_path=export_path)


def _finish(
    settings: Settings, experiment_id: uuid.UUID, *, as_json: bool, export_path: Path | None
) -> None:
    status = _run(_show(settings, experiment_id, as_json=as_json))
    if export_path is not None:
        rows = _run(_export(settings, experiment_id, export_path))
        print(f"wrote {rows} iterations to {export_path}", file=sys.stderr)
    if status == ExperimentStatus.FAILED:
        raise fail("the experiment failed: no provider produced an answer", FAILURE)


@experiments_app.command("list")
@friendly_errors
def list_experiments(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    status: Annotated[ExperimentStatus | None, typer.Option(help="Only this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent experiments."""

    async def load() -> list[Experiment]:
        async with (
            open_runtime(get_settings()) as runtime,
            transaction(runtime.session_factory) as session,
        ):
            return await experiment_service.list_recent(session, limit=limit, status=status)

    experiments = _run(load())
    if as_json:
        print(json.dumps([experiment_service.summary(e) for e in experiments], indent=2))
        return
    table = Table(title="experiments", title_justify="left")
    for column in ("id", "created (UTC)", "status", "providers", "iterations", "name"):
        table.add_column(column)
    for experiment in experiments:
        synthetic = any(batch.synthetic for batch in experiment.batch_runs)
        table.add_row(
            str(experiment.id)[:8],
            experiment.created_at.strftime("%Y-%m-%d %H:%M"),
            str(experiment.status),
            ", ".join(experiment.providers) + (" (synthetic)" if synthetic else ""),
            str(experiment.iterations),
            experiment.name,
        )
    console.print(table)


@experiments_app.command("show")
@friendly_errors
def show(
    experiment_id: Annotated[
        str, typer.Argument(metavar="ID", help="Id or its first 8 characters.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show an experiment's metrics per provider and combined."""
    _run(_show(get_settings(), experiment_id, as_json=as_json))


@experiments_app.command("export")
@friendly_errors
def export_csv(
    experiment_id: Annotated[str, typer.Argument(metavar="ID")],
    path: Annotated[Path, typer.Argument(metavar="FILE.csv")],
) -> None:
    """Write every iteration of an experiment (answers included) to a CSV file."""
    rows = _run(_export(get_settings(), experiment_id, path))
    print(f"wrote {rows} iterations to {path}", file=sys.stderr)


@experiments_app.command("rescore")
@friendly_errors
def rescore(
    experiment_id: Annotated[str, typer.Argument(metavar="ID")],
    config: Annotated[
        Path | None,
        typer.Option("--brands", help="A TOML file whose [brands] table replaces the definitions."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Re-score stored answers with the (changed) brand definitions: no new LLM calls."""

    async def go() -> uuid.UUID:
        async with (
            open_runtime(get_settings()) as runtime,
            transaction(runtime.session_factory) as session,
        ):
            resolved = await experiment_service.resolve_id(session, experiment_id)
            experiment = await experiment_service.get(session, resolved)
            brands = options.brands_from_file(config) if config else None
            await experiment_service.rescore(session, experiment, brands=brands)
            return resolved

    resolved = _run(go())
    _run(_show(get_settings(), resolved, as_json=as_json))


@experiments_app.command("resume")
@friendly_errors
def resume(
    experiment_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Run the iterations an interrupted or failed experiment is missing (never repeats one)."""
    settings = get_settings()
    experiment = _run(_execute(settings, None, experiment_id))
    _finish(settings, experiment.id, as_json=as_json, export_path=None)


@app.command()
@friendly_errors
def providers() -> None:
    """Which providers are configured, their default models, and which keys are missing."""
    table = Table(title="providers", title_justify="left")
    for column in ("provider", "default model", "status", "base URL", "web search"):
        table.add_column(column)
    for name, info in VENDORS.items():
        api_key, base_url = credentials(name)
        if not info.needs_key:
            status = (
                "ready (offline, synthetic)"
                if name == "demo"
                else ("ready" if base_url else f"set {info.base_url_env}")
            )
        elif api_key:
            status = "ready"
        else:
            status = f"missing {' or '.join(info.api_key_env)}"
        table.add_row(
            name,
            info.default_model,
            status,
            base_url or "vendor default",
            "yes" if info.supports_grounding else "no",
        )
    console.print(table)


@app.command("migrate")
@friendly_errors
def migrate_command(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (DATABASE_URL, or the embedded SQLite file)."""

    async def go() -> None:
        engine = create_engine(get_settings())
        try:
            await migrate.upgrade(engine, revision)
        finally:
            await engine.dispose()

    _run(go())
    print(f"database migrated to {revision}", file=sys.stderr)


@app.command("fake-llm")
@friendly_errors
def fake_llm(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8900,
    latency_ms: Annotated[float, typer.Option(min=0, help="Delay before each answer.")] = 0.0,
    error_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of 5xx answers.")] = 0.0,
    rate_limit_rate: Annotated[float, typer.Option(min=0, max=1, help="Share of 429s.")] = 0.0,
    malformed_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of broken bodies.")
    ] = 0.0,
) -> None:
    """Serve the OpenAI, Anthropic, Perplexity and Gemini wire formats locally, for testing.

    Point an adapter at it, e.g. OPENAI_BASE_URL=http://127.0.0.1:8900/v1 OPENAI_API_KEY=test.
    """
    from echo_ai.testing.fake_llm.config import FakeLLMConfig
    from echo_ai.testing.fake_llm.server import main

    main(
        "127.0.0.1",
        port,
        FakeLLMConfig(
            latency_ms=latency_ms,
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            malformed_rate=malformed_rate,
        ),
    )
