"""``echo-ai usage``: a workspace's use of its plan this month, and the reconciliation of
the usage counters (one command, registered in :mod:`echo_ai.cli.main`)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from echo_ai.execution.runtime import Runtime


@friendly_errors
def usage(
    workspace: Annotated[
        uuid.UUID | None,
        typer.Option(
            "--workspace", help="The workspace's id (default: the command line's own workspace)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="First recompute this month's usage counters of every workspace from the "
            "iterations stored (what the scheduler does daily).",
        ),
    ] = False,
) -> None:
    """Show this month's iterations stored and in flight, their cost, and each limit of the
    workspace's plan with what is left (the month is the UTC calendar month)."""
    from rich.console import Console
    from rich.table import Table

    from echo_ai.billing import usage as metering_usage
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction, utcnow
    from echo_ai.errors import NotFound
    from echo_ai.metering.units import month_of
    from echo_ai.workspaces import quotas
    from echo_ai.workspaces.local import local_workspace
    from echo_ai.workspaces.models import Workspace

    settings = get_settings()

    async def go(runtime: Runtime) -> quotas.UsageOut:
        now = utcnow()
        if reconcile:
            found = await metering_usage.reconcile_each(
                runtime.session_factory, month=month_of(now)
            )
            typer.echo(
                f"reconciled {found.month}: {found.workspaces} workspace(s), "
                f"{len(found.repaired)} repaired",
                err=True,
            )
        async with transaction(runtime.session_factory) as session:
            if workspace is None:
                workspace_id = (await local_workspace(session)).id
            elif await session.get(Workspace, workspace) is None:
                raise NotFound(f"no workspace with id {workspace}")
            else:
                workspace_id = workspace
            found_usage = await quotas.usage_of(session, workspace_id, now=now, settings=settings)
            return quotas.UsageOut.of(found_usage)

    shown = flows.in_runtime(settings, go)
    if as_json:
        print(json.dumps(shown.model_dump(mode="json"), indent=2))
        return
    console = Console()
    console.print(
        f"workspace {shown.workspace_id}  plan {shown.plan}  month {shown.month}\n"
        f"iterations stored {shown.iterations_stored:,}  in flight "
        f"{shown.iterations_in_flight:,}  cost ${shown.cost_usd:,.2f}  reserved "
        f"${shown.reserved_usd:,.2f}"
    )
    table = Table(title="limits this month", title_justify="left")
    for column in ("limit", "used", "limit value", "left"):
        table.add_column(column)
    for quota in shown.quotas:
        table.add_row(
            quota.name,
            f"{quota.used:,}",
            "no limit" if quota.limit is None else f"{quota.limit:,}",
            "-" if quota.left is None else f"{quota.left:,}",
        )
    per_run = shown.max_iterations_per_experiment
    table.add_row(
        "max_iterations_per_experiment", "-", "no limit" if per_run is None else f"{per_run:,}", "-"
    )
    table.add_row(
        "providers", "-", "all" if shown.providers is None else ", ".join(shown.providers), "-"
    )
    console.print(table)
