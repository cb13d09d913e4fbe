"""``echo-ai account ...``: an operator's answers to requests that arrive by mail: an
export of everything about a user (GDPR Art. 15, 20), the erasure of an account
(Art. 17), with the same rules as the API, and turning off the two-factor authentication
of a user who lost both their authenticator and their recovery codes; audited with actor
``cli``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import FAILURE, fail, friendly_errors

if TYPE_CHECKING:
    from echo_ai.accounts.erasure import DeletionPreview, Erased
    from echo_ai.execution.runtime import Runtime

app = typer.Typer(
    help="A user's account on request: export its data as a ZIP of JSON files, erase it, or"
    " reset its two-factor authentication."
)

EmailArgument = Annotated[str, typer.Argument(metavar="EMAIL", help="The account's e-mail.")]


@app.command("export")
@friendly_errors
def export_account(
    email: EmailArgument,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the ZIP (default: echo-ai-export-<id>.zip); never over an"
            " existing file.",
        ),
    ] = None,
) -> None:
    """Write everything about the account to a ZIP (the API's export, a new file, 0600)."""
    from echo_ai.accounts import export as exports
    from echo_ai.accounts import users
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.privacy import audit
    from echo_ai.privacy.audit import Action, Actor
    from echo_ai.security.files import new_private_file

    async def go(runtime: Runtime) -> Path:
        async with transaction(runtime.session_factory) as session:
            user_id = (await users.by_email(session, email)).id
        path = out or Path(f"echo-ai-export-{user_id}.zip")
        try:
            file = new_private_file(path)
        except FileExistsError:
            raise fail(
                f"{path} exists already: the export never overwrites a file; give another --out",
                FAILURE,
            ) from None
        try:
            with file:
                async with transaction(runtime.session_factory) as session:
                    await audit.record(
                        session,
                        Action.ACCOUNT_EXPORT_REQUESTED,
                        actor=Actor.cli(),
                        target_type="user",
                        target_id=user_id,
                        details={"written_by": "cli"},
                    )
                await exports.write_zip(runtime.session_factory, user_id, file)
        except BaseException:
            path.unlink(missing_ok=True)  # ours, created above: no half-written export
            raise
        return path

    written = flows.in_runtime(get_settings(), go)
    print(f"wrote {written} ({written.stat().st_size} bytes)")


def _show(preview: DeletionPreview) -> None:
    for workspace in preview.deleted:
        print(f"deleted with the account: workspace {workspace.name!r} ({workspace.id})")
    for workspace in preview.left:
        print(f"left: workspace {workspace.name!r} ({workspace.id}), role {workspace.role}")
    for workspace in preview.blocking:
        print(
            f"blocks: workspace {workspace.name!r} ({workspace.id}) has other members and no "
            "other owner"
        )


@app.command("erase")
@friendly_errors
def erase_account(
    email: EmailArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
) -> None:
    """Erase the account (no password asked: the operator vouches for the request). Shows
    what goes first. A workspace with other members where the user is the only owner
    refuses it: make another member owner first (there is no --force: it would delete the
    other members' work)."""
    from echo_ai.accounts import erasure, users
    from echo_ai.alerts import erasure as alert_erasure
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor
    from echo_ai.security.keys import load_key_ring

    settings = get_settings()
    keys = load_key_ring(settings)

    async def look(runtime: Runtime) -> DeletionPreview:
        async with transaction(runtime.session_factory) as session:
            return await erasure.preview(session, await users.by_email(session, email))

    preview = flows.in_runtime(settings, look)
    _show(preview)
    if not preview.allowed:
        raise fail("the account cannot be erased: make another member owner first", 1)
    if not yes and not typer.confirm(f"Erase the account {email}?", default=False):
        raise fail("nothing erased", 1)

    async def go(runtime: Runtime) -> Erased:
        async with transaction(runtime.session_factory) as session:
            user = await users.by_email(session, email)
            return await erasure.erase(
                session,
                user,
                pseudonym_key=keys.audit_pseudonym_key,
                data_dir=settings.data_dir,
                actor=Actor.cli(),
                forget=(alert_erasure.forget_address,),
            )

    erased = flows.in_runtime(settings, go)
    print(f"erased: the account is now {erased.email_pseudonym}", file=sys.stderr)


@app.command("reset-2fa")
@friendly_errors
def reset_two_factor(
    email: EmailArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
) -> None:
    """Turn off the two-factor authentication of a user who lost their authenticator and
    their recovery codes (no password or code asked: check who is asking first). Their
    recovery codes are deleted, every session of theirs ends, and they are told by mail;
    they sign in with the password alone and can turn 2FA on again."""
    from echo_ai.accounts import security, users
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction, utcnow
    from echo_ai.privacy.audit import Actor

    settings = get_settings()
    if not yes and not typer.confirm(
        f"Turn off two-factor authentication of {email} and sign them out everywhere?",
        default=False,
    ):
        raise fail("nothing changed", 1)

    async def go(runtime: Runtime) -> int:
        async with transaction(runtime.session_factory) as session:
            user = await users.by_email(session, email)
            return await security.reset_two_factor(
                session, user, now=utcnow(), actor=Actor.cli(), settings=settings
            )

    ended = flows.in_runtime(settings, go)
    print(
        f"two-factor authentication is off for {email}; {ended} session(s) ended, notice mailed",
        file=sys.stderr,
    )
