"""``echo-ai outbox``: the mails the service queued (address confirmations, password
resets, invitations, change notices), sent or not, and the text of one of them; without an
SMTP server (``ECHO_AI_MAIL__SMTP_HOST`` unset) this is where the links are read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from echo_ai.execution.runtime import Runtime
    from echo_ai.mail.listing import MailOut, MailText

app = typer.Typer(
    help="The mails of the queue, newest first: when queued, to whom, subject, status "
    "(queued, sent, failed). Without an SMTP server they are written as .eml files to "
    "<data_dir>/outbox instead of sent; 'show ID' prints one mail's text.",
    invoke_without_command=True,
)


@app.callback()
@friendly_errors
def outbox(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="How many of the latest mails.")
    ] = 50,
) -> None:
    """List the latest mails of the queue, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.mail import listing

    settings = get_settings()

    async def go(runtime: Runtime) -> list[MailOut]:
        async with transaction(runtime.session_factory) as session:
            return await listing.recent(session, settings, limit=limit)

    mails = flows.in_runtime(settings, go)
    if as_json:
        print(json.dumps([mail.model_dump(mode="json") for mail in mails], indent=2))
        return
    if not mails:
        typer.echo("no mail yet")
        return
    table = Table("queued (UTC)", "to", "subject", "status", "id")
    for mail in mails:
        status = str(mail.status)
        if mail.status == "queued" and mail.attempts:
            status += f" (tried {mail.attempts}x)"
        table.add_row(
            f"{mail.created_at:%Y-%m-%d %H:%M:%S}", mail.to, mail.subject, status, str(mail.id)
        )
    Console(width=200).print(table)


@app.command("show")
@friendly_errors
def show(
    mail_id: Annotated[
        str, typer.Argument(metavar="ID", help="The mail's id (or a unique prefix of it).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Print one mail: its headers, status and plain text (with its links)."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.mail import listing

    settings = get_settings()

    async def go(runtime: Runtime) -> MailText:
        async with transaction(runtime.session_factory) as session:
            return await listing.one(session, settings, mail_id)

    mail = flows.in_runtime(settings, go)
    if as_json:
        print(json.dumps(mail.model_dump(mode="json"), indent=2))
        return
    typer.echo(f"To: {mail.to}")
    typer.echo(f"Subject: {mail.subject}")
    typer.echo(f"Queued: {mail.created_at:%Y-%m-%d %H:%M:%S} UTC")
    typer.echo(f"Status: {mail.status} ({mail.attempts} attempt(s))")
    if mail.last_error:
        typer.echo(f"Last error: {mail.last_error}")
    if mail.file:
        typer.echo(f"File: {mail.file}")
    typer.echo("")
    typer.echo(mail.text, nl=False)
