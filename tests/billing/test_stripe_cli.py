"""``echo-ai workspace-plan`` keeps working with Stripe on, and warns that Stripe's next
subscription event sets the plan again."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from echo_ai.billing.plans import PlanName
from echo_ai.cli import app as cli
from echo_ai.config import get_settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import open_runtime
from echo_ai.workspaces.models import Workspace
from tests.billing.stripe_kit import SECRET_KEY, WEBHOOK_SECRET

WARNING = "warning: Stripe billing is on"


async def _new_workspace() -> uuid.UUID:
    async with (
        open_runtime(get_settings(), executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        workspace = Workspace(name="Acme")
        session.add(workspace)
        await session.flush()
        return workspace.id


async def _plan(workspace_id: uuid.UUID) -> PlanName | None:
    async with (
        open_runtime(get_settings(), executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        return await session.scalar(select(Workspace.plan).where(Workspace.id == workspace_id))


def test_a_manual_plan_is_set_with_or_without_stripe(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace_id = asyncio.run(_new_workspace())
    runner = CliRunner()
    off = runner.invoke(cli, ["workspace-plan", str(workspace_id), "team"])
    assert off.exit_code == 0 and WARNING not in off.output
    assert asyncio.run(_plan(workspace_id)) == PlanName.TEAM

    monkeypatch.setenv("ECHO_AI_BILLING__STRIPE_SECRET_KEY", SECRET_KEY)
    secret_file = cli_env.parent / "whsec"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    monkeypatch.setenv("ECHO_AI_BILLING__STRIPE_WEBHOOK_SECRET_FILE", str(secret_file))
    get_settings.cache_clear()
    assert get_settings().billing.stripe_enabled
    on = runner.invoke(cli, ["workspace-plan", str(workspace_id), "business"])
    assert on.exit_code == 0
    assert "on the business plan" in on.output
    assert WARNING in on.output and "overwriting this one" in on.output
    assert asyncio.run(_plan(workspace_id)) == PlanName.BUSINESS
