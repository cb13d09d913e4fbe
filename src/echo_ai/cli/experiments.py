"""``echo-ai experiments ...``: list, show, export, re-score and resume."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai import aio
from echo_ai.cli import flows, options
from echo_ai.cli.errors import friendly_errors
from echo_ai.config import get_settings
from echo_ai.db import transaction
from echo_ai.execution.providers import ensure_configured
from echo_ai.execution.runtime import open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs.models import Experiment, ExperimentStatus

app = typer.Typer(help="List, show, export, re-score and resume experiments.")

IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="An experiment id or its first 8 characters.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@app.command("list")
@friendly_errors
def list_experiments(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    status: Annotated[ExperimentStatus | None, typer.Option(help="Only this status.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List recent experiments."""

    async def load() -> list[Experiment]:
        async with (
            open_runtime(get_settings()) as runtime,
            transaction(runtime.session_factory) as session,
        ):
            return await experiment_service.list_recent(session, limit=limit, status=status)

    experiments = aio.run(load())
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
    flows.console.print(table)


@app.command()
@friendly_errors
def show(experiment_id: IdArgument, as_json: JsonOption = False) -> None:
    """Show an experiment's metrics per provider and combined."""
    aio.run(flows.show(get_settings(), experiment_id, as_json=as_json))


@app.command("export")
@friendly_errors
def export_command(
    experiment_id: IdArgument, path: Annotated[Path, typer.Argument(metavar="FILE")]
) -> None:
    """Write every iteration of an experiment (answers included) to a file: JSON if it
    ends in .json, JSON Lines in .jsonl, CSV otherwise (columns: docs/exports.md)."""
    rows = aio.run(
        flows.export_file(get_settings(), experiment_id, path, flows.export_format(path))
    )
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
    """Re-score stored answers with the (changed) brand definitions: no new LLM calls."""
    brands = options.brands_from_file(brands_file) if brands_file else None

    async def go() -> None:
        async with (
            open_runtime(get_settings()) as runtime,
            transaction(runtime.session_factory) as session,
        ):
            resolved = await experiment_service.resolve_id(session, experiment_id)
            experiment = await experiment_service.get(session, resolved)
            await experiment_service.rescore(session, experiment, actor=Actor.cli(), brands=brands)

    aio.run(go())
    aio.run(flows.show(get_settings(), experiment_id, as_json=as_json))


@app.command()
@friendly_errors
def resume(experiment_id: IdArgument, as_json: JsonOption = False) -> None:
    """Run the iterations an interrupted or failed experiment is missing (never repeats one)."""
    settings = get_settings()

    async def reopen(session: AsyncSession) -> uuid.UUID:
        resolved = await experiment_service.resolve_id(session, experiment_id)
        experiment = await experiment_service.get(session, resolved)
        ensure_configured(settings, [ProviderSpec.parse(spec) for spec in experiment.providers])
        await experiment_service.reopen(session, experiment)
        return resolved

    resolved = aio.run(flows.execute(settings, reopen))
    flows.report_and_export(settings, resolved, as_json=as_json, export_path=None)
