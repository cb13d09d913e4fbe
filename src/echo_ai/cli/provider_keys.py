"""``echo-ai provider-keys ...``: a workspace's own provider keys (list, set, delete) and
re-encrypting every stored key under the current secret key (rotate)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import USAGE_ERROR, fail, friendly_errors

if TYPE_CHECKING:
    from echo_ai.credentials.schemas import ProviderKeyOut
    from echo_ai.credentials.store import Rotation
    from echo_ai.execution.runtime import Runtime

app = typer.Typer(
    help="A workspace's own provider keys (stored encrypted, used for its runs instead of the "
    "server's), and re-encrypting them after a secret-key rotation."
)

WorkspaceOption = Annotated[
    uuid.UUID | None,
    typer.Option(
        "--workspace", help="The workspace's id (default: the command line's local workspace)."
    ),
]
VendorArgument = Annotated[
    str,
    typer.Argument(
        metavar="VENDOR",
        help="openai, anthropic, perplexity, gemini or openai-compatible.",
    ),
]


async def _workspace_id(runtime: Runtime, workspace: uuid.UUID | None) -> uuid.UUID:
    from echo_ai.db import transaction
    from echo_ai.workspaces.local import local_workspace

    if workspace is not None:
        return workspace
    async with transaction(runtime.session_factory) as session:
        return (await local_workspace(session)).id


@app.command("list")
@friendly_errors
def list_keys(workspace: WorkspaceOption = None) -> None:
    """List the workspace's stored keys: vendor, last four characters, base URL, when set."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.workspaces import provider_keys

    async def go(runtime: Runtime) -> list[ProviderKeyOut]:
        workspace_id = await _workspace_id(runtime, workspace)
        async with transaction(runtime.session_factory) as session:
            return await provider_keys.list_keys(session, workspace_id)

    shown = flows.in_runtime(get_settings(), go)
    if not shown:
        print("no provider keys stored", file=sys.stderr)
    for key in shown:
        where = f"  {key.base_url}" if key.base_url else ""
        by = f"  by {key.set_by_email}" if key.set_by_email else ""
        print(f"{key.vendor}  ...{key.last4}  set {key.updated_at:%Y-%m-%d %H:%M} UTC{by}{where}")


@app.command("set")
@friendly_errors
def set_key(
    vendor: VendorArgument,
    base_url: Annotated[
        str | None,
        typer.Option(help="The server's base URL (openai-compatible only, required there)."),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="Read the key from this file (its first line) instead of a hidden prompt.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Store (or replace) the workspace's key for VENDOR, encrypted. The key is asked for
    with hidden input (or read from --key-file), never taken from the command line."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.credentials.schemas import ProviderKeyIn
    from echo_ai.credentials.vault import Vault
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor
    from echo_ai.security.keys import load_key_ring
    from echo_ai.workspaces import provider_keys

    settings = get_settings()
    keys = load_key_ring(settings)
    vendor = provider_keys.vendor_name(vendor)
    if key_file is not None:
        try:
            lines = key_file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise fail(
                f"{key_file} is not a text file holding a key (UTF-8)", USAGE_ERROR
            ) from None
        api_key = lines[0] if lines else ""
    else:
        api_key = typer.prompt(f"{vendor} API key", hide_input=True)
    data = ProviderKeyIn(api_key=api_key, base_url=base_url)

    async def go(runtime: Runtime) -> ProviderKeyOut:
        workspace_id = await _workspace_id(runtime, workspace)
        async with transaction(runtime.session_factory) as session:
            row = await provider_keys.set_key(
                session,
                workspace_id,
                vendor,
                data,
                vault=Vault(keys),
                allow_private_base_urls=settings.billing.allow_private_base_urls,
                set_by=None,
                actor=Actor.cli(),
            )
            return provider_keys.show(row)

    shown = flows.in_runtime(settings, go)
    print(f"stored the {shown.vendor} key ...{shown.last4}")


@app.command("delete")
@friendly_errors
def delete_key(vendor: VendorArgument, workspace: WorkspaceOption = None) -> None:
    """Forget the workspace's key for VENDOR (its runs use the server's key again)."""
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor
    from echo_ai.workspaces import provider_keys

    async def go(runtime: Runtime) -> None:
        workspace_id = await _workspace_id(runtime, workspace)
        async with transaction(runtime.session_factory) as session:
            await provider_keys.delete_key(session, workspace_id, vendor, actor=Actor.cli())

    flows.in_runtime(get_settings(), go)
    print(f"deleted the {provider_keys.vendor_name(vendor)} key")


@app.command("rotate")
@friendly_errors
def rotate() -> None:
    """Encrypt every workspace's stored keys, and the alert webhooks' signing secrets, again
    under the current secret key (ECHO_AI_SECRET_KEY), after which
    ECHO_AI_PREVIOUS_SECRET_KEYS may be emptied. Exits 1 if some key or secret could not be
    decrypted with any configured secret key."""
    from echo_ai.alerts import service as alerts
    from echo_ai.cli import flows
    from echo_ai.config import get_settings
    from echo_ai.credentials.vault import Vault
    from echo_ai.db import transaction
    from echo_ai.privacy.audit import Actor
    from echo_ai.security.keys import load_key_ring
    from echo_ai.workspaces import provider_keys

    settings = get_settings()
    vault = Vault(load_key_ring(settings))

    async def go(runtime: Runtime) -> tuple[Rotation, tuple[int, list[uuid.UUID]]]:
        async with transaction(runtime.session_factory) as session:
            rotation = await provider_keys.rotate(session, vault=vault, actor=Actor.cli())
            return rotation, await alerts.rotate_secrets(session, vault)

    rotation, (secrets_rotated, secrets_unreadable) = flows.in_runtime(settings, go)
    print(f"re-encrypted {rotation.rotated} provider key(s) under the current secret key")
    if secrets_rotated or secrets_unreadable:
        print(
            f"re-encrypted {secrets_rotated} alert webhook secret(s) under the current secret key"
        )
    for rule_id in secrets_unreadable:
        print(
            f"error: alert rule {rule_id}: its webhook secret cannot be decrypted with any "
            "configured secret key; remove its webhook and add it again for a new secret",
            file=sys.stderr,
        )
    for workspace_id, vendor in rotation.unreadable:
        print(
            f"error: workspace {workspace_id}: the {vendor} key cannot be decrypted with any "
            "configured secret key; the workspace must store it again",
            file=sys.stderr,
        )
    if rotation.unreadable or secrets_unreadable:
        raise typer.Exit(1)
