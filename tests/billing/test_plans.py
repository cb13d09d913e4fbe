"""Plans raise a workspace's API rate limit; an operator sets the plan."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from echo_ai.auth.models import User
from echo_ai.auth.schemas import Registration
from echo_ai.billing.plans import PLANS, PlanName, api_requests_per_minute
from echo_ai.cli import app as cli
from echo_ai.config import Settings, get_settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import open_runtime
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.workspaces import quotas
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Membership, Workspace
from tests.kit import PASSWORD, app_runtime, register_and_login


def test_plans_never_lower_the_default() -> None:
    settings = Settings()
    settings.server.workspace_requests_per_minute = 600
    assert api_requests_per_minute(PlanName.FREE, settings) == 600
    assert api_requests_per_minute(PlanName.TEAM, settings) == 3_000
    assert api_requests_per_minute(PlanName.BUSINESS, settings) == 12_000
    settings.server.workspace_requests_per_minute = 5_000
    assert api_requests_per_minute(PlanName.TEAM, settings) == 5_000
    assert set(PLANS) == set(PlanName)


async def _workspace_of(started_app: FastAPI, email: str) -> uuid.UUID:
    async with transaction(app_runtime(started_app).session_factory) as session:
        workspace_id = await session.scalar(
            select(Membership.workspace_id).join(User).where(User.email == email)
        )
    assert workspace_id is not None
    return workspace_id


@pytest.mark.usefixtures("backend")
async def test_a_plan_raises_the_workspace_api_limit(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    settings.server.workspace_requests_per_minute = 3
    statuses = [(await client.get("/v1/experiments", headers=ada)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]

    workspace_id = await _workspace_of(started_app, "ada@example.com")
    async with transaction(app_runtime(started_app).session_factory) as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None and workspace.plan == PlanName.FREE
        workspace.plan = PlanName.TEAM
    statuses = [(await client.get("/v1/experiments", headers=ada)).status_code for _ in range(5)]
    assert statuses == [200] * 5


def test_operators_set_a_plan_from_the_command_line(cli_env: Path) -> None:
    async def register() -> uuid.UUID:
        async with (
            open_runtime(get_settings(), executor="local") as runtime,
            transaction(runtime.session_factory) as session,
        ):
            data = Registration(email="ada@example.com", password=PASSWORD, accept_terms=True)
            user = await workspaces.register(
                session, data, actor=Actor(), settings=runtime.settings
            )
            assert user is not None
            workspace_id = await session.scalar(
                select(Membership.workspace_id).where(Membership.user_id == user.id)
            )
            assert workspace_id is not None
            return workspace_id

    async def plan(workspace_id: uuid.UUID) -> PlanName | None:
        async with (
            open_runtime(get_settings(), executor="local") as runtime,
            transaction(runtime.session_factory) as session,
        ):
            return await session.scalar(select(Workspace.plan).where(Workspace.id == workspace_id))

    async def audited(workspace_id: uuid.UUID) -> list[AuditEvent]:
        async with (
            open_runtime(get_settings(), executor="local") as runtime,
            transaction(runtime.session_factory) as session,
        ):
            return await audit.page(session, workspace_id, limit=10)

    workspace_id = asyncio.run(register())
    runner = CliRunner()
    done = runner.invoke(cli, ["workspace-plan", str(workspace_id), "business"])
    assert done.exit_code == 0 and "12000 API requests/minute" in done.output
    assert asyncio.run(plan(workspace_id)) == PlanName.BUSINESS
    changed, _ = asyncio.run(audited(workspace_id))  # newest first, then the registration
    assert (changed.action, changed.actor_type, changed.actor_user_id) == (
        "workspace.plan_changed",
        "cli",
        None,
    )
    assert changed.details == {"from": "free", "to": "business"}
    unknown = runner.invoke(cli, ["workspace-plan", str(uuid.uuid4()), "team"])
    assert unknown.exit_code != 0 and "no such workspace" in unknown.output
    bad = runner.invoke(cli, ["workspace-plan", str(uuid.uuid4()), "platinum"])
    assert bad.exit_code == 2 and "platinum" in bad.output


@pytest.mark.usefixtures("backend")
async def test_new_workspaces_get_the_default_plan(
    client: httpx.AsyncClient,
    started_app: FastAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECHO_AI_BILLING__DEFAULT_PLAN", "self_hosted")
    assert Settings().billing.default_plan == "self_hosted"
    settings.billing.default_plan = "self_hosted"
    ada = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/workspaces", json={"name": "Acme"}, headers=ada)
    assert created.status_code == 201, created.text
    team_id = uuid.UUID(created.json()["id"])
    personal_id = await _workspace_of(started_app, "ada@example.com")

    async with transaction(app_runtime(started_app).session_factory) as session:
        for workspace_id in (personal_id, team_id):
            workspace = await session.get(Workspace, workspace_id)
            assert workspace is not None and workspace.plan == PlanName.SELF_HOSTED
            limits = await quotas.limits_of(session, workspace_id, settings)
            assert limits.iterations_per_month is None
            assert limits.members is None
            assert limits.scheduled_experiments is None

    settings.billing.default_plan = "free"
    bob = await register_and_login(client, "bob@example.com")
    assert bob
    async with transaction(app_runtime(started_app).session_factory) as session:
        plan = await session.scalar(
            select(Workspace.plan)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == "bob@example.com")
        )
    assert plan == PlanName.FREE
