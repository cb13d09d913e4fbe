"""``echo-ai budget ...`` (a workspace's monthly budget, an experiment's own cap) and
``echo-ai costs`` (what the LLM calls cost, per month, provider, experiment or purpose).

They act on the command line's local workspace unless ``--workspace`` names another
(an operator's command: the command line is trusted with every workspace of its
database, as ``echo-ai workspace-plan`` is).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from echo_ai.billing.budget_settings import BudgetStatus
    from echo_ai.billing.costs import CostReport
    from echo_ai.execution.runtime import Runtime

budget_app = typer.Typer(
    help="Show, set or clear the monthly budget of LLM spend (a workspace's, an "
    "experiment's own cap).",
    no_args_is_help=True,
)

WorkspaceOption = Annotated[
    uuid.UUID | None,
    typer.Option("--workspace", help="A workspace's id (default: the local workspace)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
GroupName = Literal["month", "provider", "experiment", "purpose"]
"""``billing.spend_schemas.GroupBy``, spelled here so that building the command line does
not import pydantic."""


async def _workspace(session: AsyncSession, workspace_id: uuid.UUID | None) -> uuid.UUID:
    from echo_ai.workspaces.local import local_workspace

    if workspace_id is not None:
        return workspace_id
    return (await local_workspace(session)).id


def _print_status(status: BudgetStatus, *, as_json: bool) -> None:
    import json

    out = status.out()
    if as_json:
        print(json.dumps(out.model_dump(mode="json"), indent=2))
        return
    print(f"month {out.month} (UTC): ${out.spent_usd} spent, ${out.reserved_usd} in flight")
    if out.monthly_usd is None:
        print("no monthly budget (set one with: echo-ai budget set AMOUNT)")
        return
    share = f"{(out.share_used or 0) * 100:.1f}%"
    print(f"budget ${out.monthly_usd} a month: ${out.left_usd} left ({share} used)")
    if out.exhausted:
        print("the budget is spent: runs are refused until next month or a higher budget")
    elif out.alert:
        print(f"warning: {share} of the budget is used (alert at {out.alert_share * 100:.0f}%)")


@budget_app.command("show")
@friendly_errors
def show(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """This month's spend against the workspace's budget."""
    from echo_ai.billing import budget_settings
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction, utcnow

    settings = get_settings()

    async def go(runtime: Runtime) -> BudgetStatus:
        async with transaction(runtime.session_factory) as session:
            workspace_id = await _workspace(session, workspace)
            return await budget_settings.budget_status(
                session, workspace_id, now=utcnow(), settings=settings
            )

    _print_status(flows.in_runtime(settings, go), as_json=as_json)


@budget_app.command("set")
@friendly_errors
def set_budget(
    amount: Annotated[str, typer.Argument(help="USD per calendar month, e.g. 50 or 12.50.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Set the workspace's monthly budget: runs that would pass it are refused and
    running batches stop at it."""
    from echo_ai.billing import budget_settings
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction, utcnow
    from echo_ai.privacy.audit import Actor

    settings = get_settings()
    monthly = budget_settings.parse_amount(amount)

    async def go(runtime: Runtime) -> BudgetStatus:
        async with transaction(runtime.session_factory) as session:
            workspace_id = await _workspace(session, workspace)
            await budget_settings.set_workspace_budget(
                session, workspace_id, monthly, actor=Actor.cli()
            )
            return await budget_settings.budget_status(
                session, workspace_id, now=utcnow(), settings=settings
            )

    _print_status(flows.in_runtime(settings, go), as_json=False)


@budget_app.command("clear")
@friendly_errors
def clear(workspace: WorkspaceOption = None) -> None:
    """Remove the workspace's monthly budget (no cap any more)."""
    from echo_ai.billing import budget_settings
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor

    async def go(runtime: Runtime) -> bool:
        async with transaction(runtime.session_factory) as session:
            workspace_id = await _workspace(session, workspace)
            return await budget_settings.clear_workspace_budget(
                session, workspace_id, actor=Actor.cli()
            )

    cleared = flows.in_runtime(get_settings(), go)
    print("the monthly budget was removed" if cleared else "there was no monthly budget")


@budget_app.command("experiment")
@friendly_errors
def experiment_budget(
    reference: Annotated[
        str, typer.Argument(metavar="ID", help="An experiment id or its first 8 characters.")
    ],
    amount: Annotated[
        str | None, typer.Argument(help="Its own cap in USD per calendar month.")
    ] = None,
    clear_cap: Annotated[bool, typer.Option("--clear", help="Remove its own cap.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Cap one experiment's spend per calendar month (within the workspace's budget), or
    remove its cap with --clear."""
    from echo_ai.billing import budget_settings
    from echo_ai.cli import flows
    from echo_ai.cli.errors import USAGE_ERROR, fail
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.experiments import service as experiment_service
    from echo_ai.metering.units import usd_text
    from echo_ai.privacy.audit import Actor

    if clear_cap == (amount is not None):
        raise fail("give either an AMOUNT or --clear", USAGE_ERROR)
    monthly = None if amount is None else budget_settings.parse_amount(amount)

    async def go(runtime: Runtime) -> tuple[uuid.UUID, str]:
        async with transaction(runtime.session_factory) as session:
            workspace_id = await _workspace(session, workspace)
            experiment_id = await experiment_service.resolve_id(
                session, reference, workspace_id=workspace_id
            )
            experiment = await budget_settings.set_experiment_budget(
                session, workspace_id, experiment_id, monthly, actor=Actor.cli()
            )
            return experiment.id, experiment.name

    experiment_id, name = flows.in_runtime(get_settings(), go)
    if monthly is None:
        print(f"experiment {str(experiment_id)[:8]} ({name}) has no cap of its own")
    else:
        print(f"experiment {str(experiment_id)[:8]} ({name}): ${usd_text(monthly)} a month at most")


@friendly_errors
def costs(
    from_month: Annotated[
        str | None, typer.Option("--from", help="The first month, YYYY-MM (default: --to's).")
    ] = None,
    to_month: Annotated[
        str | None, typer.Option("--to", help="The last month, YYYY-MM (default: this one).")
    ] = None,
    by: Annotated[
        GroupName,
        typer.Option(
            "--by",
            help="One line per month, provider (vendor:model), experiment or purpose "
            "(answers, candidate prompts, sentiment judge).",
        ),
    ] = "month",
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """What the LLM calls cost (iterations stored and USD), per month, provider,
    experiment or purpose (answers, or calls made outside them: candidate prompts and the
    sentiment judge), over at most 36 months."""
    import json
    import sys

    from rich.console import Console
    from rich.table import Table

    from echo_ai.billing import costs as cost_reports
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction, utcnow
    from echo_ai.metering.units import usd_text

    # Checked before the database is opened: a typo costs nothing.
    cost_reports.month_range(from_month, to_month, now=utcnow())

    async def go(runtime: Runtime) -> CostReport:
        async with transaction(runtime.session_factory) as session:
            workspace_id = await _workspace(session, workspace)
            return await cost_reports.report_of(
                session,
                workspace_id,
                from_month=from_month,
                to_month=to_month,
                group_by=by,
                now=utcnow(),
            )

    report = flows.in_runtime(get_settings(), go)
    if as_csv:
        for chunk in cost_reports.csv_rows(report):
            sys.stdout.write(chunk)
        return
    if as_json:
        print(json.dumps(report.out().model_dump(mode="json"), indent=2))
        return
    title = f"costs {report.from_month} to {report.to_month}, by {report.group_by}"
    table = Table(title=title, title_justify="left")
    table.add_column(by)
    table.add_column("iterations", justify="right")
    table.add_column("cost (USD)", justify="right")
    table.add_column("synthetic")
    for line in report.lines:
        table.add_row(line.label, str(line.iterations), usd_text(line.cost_usd), line.synthetic)
    table.add_row("total", str(report.iterations), usd_text(report.cost_usd), "")
    Console().print(table)
