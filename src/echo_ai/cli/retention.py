"""``echo-ai retention run``: apply the retention policy now (what the scheduler does
daily; registered in :mod:`echo_ai.cli.main`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from echo_ai.accounts.retention import RetentionReport
    from echo_ai.execution.runtime import Runtime

app = typer.Typer(
    help="The retention of stored data (docs/privacy.md).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("run")
@friendly_errors
def run(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Count what would be removed and the transactions it would take; change nothing.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Redact raw answers and reasoning past their workspace's retention, clear old error
    texts, delete old audit events, mails, outbox files, sessions and e-mailed tokens, old
    alerts and alert deliveries, purge deleted accounts and expired data exports, in
    bounded batches (the scheduler does this once a day)."""
    from echo_ai.accounts import retention
    from echo_ai.alerts.retention import ALERT_ROWS
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import utcnow

    settings = get_settings()

    async def go(runtime: Runtime) -> RetentionReport:
        report = await retention.apply(
            runtime.session_factory,
            now=utcnow(),
            settings=settings,
            dry_run=dry_run,
            expiring=ALERT_ROWS,
        )
        retention.record(report)
        return report

    report = flows.in_runtime(settings, go)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    verb = "would change" if dry_run else "changed"
    for name, count in report.counts().items():
        print(f"{name.replace('_', ' ')}: {count:,}")
    print(f"retention pass {verb} rows in {report.transactions} transaction(s)")
