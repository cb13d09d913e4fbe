"""Experiments run from the command line belong to the local workspace: audited as the
command line's, and visible in the API to the accounts it is granted to."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from echo_ai.app import create_app
from echo_ai.cli import app as cli
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.privacy.models import AuditEvent
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

PASSWORD = "correct horse battery staple"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_cli_experiments_are_audited_and_shown_to_granted_accounts(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command line runs its own event loop: in a thread, beside the test's.
    code, out, err = await asyncio.to_thread(
        invoke, "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--iterations", "5", "--json"
    )
    assert code == 0, err
    experiment_id = json.loads(out)["id"]

    monkeypatch.delenv("ECHO_AI_SECRET_KEY", raising=False)
    service = create_app(Settings(data_dir=cli_env))
    async with service.router.lifespan_context(service):
        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            credentials = {"email": "ada@example.com", "password": PASSWORD}
            assert (
                await api.post("/auth/register", json={**credentials, "accept_terms": True})
            ).status_code == 201
            token = (await api.post("/auth/login", json=credentials)).json()["access_token"]
            ada = {"Authorization": f"Bearer {token}", "X-Workspace-ID": str(LOCAL_WORKSPACE_ID)}
            before = await api.get("/v1/experiments", headers=ada)
            assert before.status_code == 404  # not a member yet: the workspace is not hers

            code, out, err = await asyncio.to_thread(
                invoke, "local-workspace", "ada@example.com", "--role", "viewer"
            )
            assert code == 0, err
            assert str(LOCAL_WORKSPACE_ID) in out

            listed = await api.get("/v1/experiments", headers=ada)
            assert listed.status_code == 200
            assert [item["id"] for item in listed.json()["items"]] == [experiment_id]
            writing = await api.delete(f"/v1/experiments/{experiment_id}", headers=ada)
            assert writing.status_code == 403  # a viewer of the local workspace

            async with transaction(service.state.service.runtime.session_factory) as session:
                events = list(
                    await session.scalars(
                        select(AuditEvent).where(AuditEvent.workspace_id == LOCAL_WORKSPACE_ID)
                    )
                )
    actions = {(event.action, event.actor_type) for event in events}
    assert ("experiment.created", "cli") in actions
    assert ("member.added", "cli") in actions


def test_granting_an_unknown_account_is_one_line(cli_env: Path) -> None:
    code, _, err = invoke("local-workspace", "nobody@example.com")
    assert code == 2
    assert err == "error: no account with the email 'nobody@example.com': register it first\n"
