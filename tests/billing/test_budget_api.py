"""Setting budgets over HTTP: the workspace's monthly budget (owners and admins), an
experiment's own cap (writers), every amount checked, every change audited; and the
budget status against this month's counters (spent, reserved, left, the alert level)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing import budget_settings
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.errors import NotFound
from echo_ai.metering import ledger
from echo_ai.metering.units import month_of, to_nano
from echo_ai.privacy.audit import Action, Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import Experiment
from echo_ai.workspaces.local import local_workspace
from tests.experiments.test_router import BODY
from tests.kit import api_key, app_runtime, create_team, register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")

BAD_AMOUNTS: list[tuple[Any, str]] = [
    ("-5", "more than $0"),
    ("0", "more than $0"),
    ("0.00", "more than $0"),
    ("fifty", "must be a number of US dollars"),
    ("12,50", "must be a number of US dollars"),
    ("1e3", "must be a number of US dollars"),
    ("10.123", "at most 2 decimal places"),
    ("2000000", "at most $1,000,000"),
    ("NaN", "must be a number of US dollars"),
    ("", "must be a number of US dollars"),
    ("1" * 25, "at most 24 characters"),
    (50, "valid string"),  # money is a decimal string, never a JSON number
    (None, "valid string"),
]


async def _actions(app: FastAPI, target: str) -> list[str]:
    async with transaction(app_runtime(app).session_factory) as session:
        found = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target_id == target)
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return list(found)


async def test_workspace_budget_set_and_cleared_by_managers_only(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    team = await create_team(client, ("admin", "member", "viewer"))
    viewer, member, admin, owner = (team.as_[r] for r in ("viewer", "member", "admin", "owner"))

    report = await client.get("/v1/costs?group_by=experiment", headers=viewer)
    assert report.status_code == 200 and report.json()["lines"] == []  # members read costs
    assert (await client.get("/v1/costs.csv", headers=viewer)).status_code == 200
    shown = await client.get("/v1/budget", headers=viewer)
    assert shown.status_code == 200, shown.text
    assert shown.json()["monthly_usd"] is None and shown.json()["left_usd"] is None
    assert shown.json()["spent_usd"] == "0.00" and shown.json()["alert"] is False

    for who in (viewer, member):
        refused = await client.put("/v1/budget", headers=who, json={"monthly_usd": "50"})
        assert refused.status_code == 403, refused.text
        assert (await client.delete("/v1/budget", headers=who)).status_code == 403
    # A key is not a manager, whatever its scopes: a person signs for the budget.
    key = await api_key(client, owner, ["read", "write"])
    keyed = {**key, "X-Workspace-ID": team.workspace_id}
    assert (
        await client.put("/v1/budget", headers=keyed, json={"monthly_usd": "5"})
    ).status_code == 403

    set_ = await client.put("/v1/budget", headers=admin, json={"monthly_usd": "50"})
    assert set_.status_code == 200, set_.text
    body = set_.json()
    assert (body["monthly_usd"], body["left_usd"], body["share_used"]) == ("50.00", "50.00", 0.0)
    assert body["month"] == month_of(datetime.now(UTC))
    assert (await client.get("/v1/budget", headers=member)).json()["monthly_usd"] == "50.00"
    changed = await client.put("/v1/budget", headers=owner, json={"monthly_usd": " 12.5 "})
    assert changed.json()["monthly_usd"] == "12.50"

    for amount, message in BAD_AMOUNTS:
        bad = await client.put("/v1/budget", headers=owner, json={"monthly_usd": amount})
        assert bad.status_code == 422, (amount, bad.text)
        error = bad.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["field"] == "monthly_usd"
        assert message in error["details"][0]["message"], (amount, error)
    missing = await client.put("/v1/budget", headers=owner, json={})
    assert missing.status_code == 422
    assert (await client.get("/v1/budget", headers=owner)).json()["monthly_usd"] == "12.50"

    assert (await client.delete("/v1/budget", headers=owner)).status_code == 204
    assert (await client.get("/v1/budget", headers=owner)).json()["monthly_usd"] is None
    assert (await client.delete("/v1/budget", headers=owner)).status_code == 204  # none: no-op

    assert await _actions(started_app, team.workspace_id) == [
        "workspace.created",
        Action.BUDGET_SET,
        Action.BUDGET_SET,
        Action.BUDGET_CLEARED,
    ]


async def test_experiment_cap_set_and_cleared_by_writers(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    team = await create_team(client, ("member", "viewer"))
    member, viewer = team.as_["member"], team.as_["viewer"]
    created = await client.post("/v1/experiments", headers=member, json={**BODY, "iterations": 3})
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, member)
    url = f"/v1/experiments/{experiment_id}/budget"

    refused = await client.put(url, headers=viewer, json={"monthly_usd": "5"})
    assert refused.status_code == 403
    assert (await client.delete(url, headers=viewer)).status_code == 403
    outsider = await register_and_login(client, "eve@example.com")
    hidden = await client.put(url, headers=outsider, json={"monthly_usd": "5"})
    assert hidden.status_code == 404  # another workspace's experiment: not found
    absent = await client.put(
        f"/v1/experiments/{uuid.uuid4()}/budget", headers=member, json={"monthly_usd": "5"}
    )
    assert absent.status_code == 404

    set_ = await client.put(url, headers=member, json={"monthly_usd": "7.5"})
    assert set_.status_code == 200, set_.text
    assert set_.json() == {"experiment_id": experiment_id, "monthly_usd": "7.50"}
    for amount, message in BAD_AMOUNTS:
        bad = await client.put(url, headers=member, json={"monthly_usd": amount})
        assert bad.status_code == 422 and message in bad.text, (amount, bad.text)

    async with transaction(app_runtime(started_app).session_factory) as session:
        stored = await session.get(Experiment, uuid.UUID(experiment_id))
        assert stored is not None and stored.budget_usd == Decimal("7.50")

    assert (await client.delete(url, headers=team.as_["owner"])).status_code == 204
    async with transaction(app_runtime(started_app).session_factory) as session:
        stored = await session.get(Experiment, uuid.UUID(experiment_id))
        assert stored is not None and stored.budget_usd is None

    actions = await _actions(started_app, experiment_id)
    assert actions[-2:] == [Action.EXPERIMENT_BUDGET_SET, Action.EXPERIMENT_BUDGET_CLEARED]


async def test_budget_status_counts_stored_and_reserved_cost(
    started_app: FastAPI, settings: Settings
) -> None:
    """Spent is the month's stored cost, reserved the calls in flight; the alert is raised
    at the configured share and the status says when nothing is left."""
    runtime = app_runtime(started_app)
    now = datetime(2026, 3, 15, 12, tzinfo=UTC)
    workspace_id, experiment_id = uuid.uuid4(), uuid.uuid4()
    settings.billing.budget_alert_share = 0.8
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(NotFound):
            await budget_settings.set_workspace_budget(
                session, workspace_id, Decimal(10), actor=Actor.cli()
            )
    async with transaction(runtime.session_factory) as session:
        workspace_id = await _local_workspace(session)
        await budget_settings.set_workspace_budget(
            session, workspace_id, Decimal(10), actor=Actor.cli()
        )
        line = ledger.StoredLine(workspace_id, experiment_id, "openai:gpt-4o", 4, to_nano("6.5"))
        await ledger.record_stored(session, [line], month="2026-03")
        # Another month's spend does not count in March.
        await ledger.record_stored(session, [line], month="2026-02")
        caps = await ledger.caps_of(session, workspace_id, experiment_id, None)
        held = await ledger.reserve(session, caps, to_nano("1.5"), month="2026-03")
        assert isinstance(held, ledger.Reservation)

    async with transaction(runtime.session_factory) as session:
        status = await budget_settings.budget_status(
            session, workspace_id, now=now, settings=settings
        )
    out = status.out()
    assert (out.month, out.spent_usd, out.reserved_usd, out.left_usd) == (
        "2026-03",
        "6.50",
        "1.50",
        "2.00",
    )
    assert out.share_used == 0.8 and out.alert is True and out.exhausted is False
    assert out.iterations == 4

    settings.billing.budget_alert_share = 0.9
    async with transaction(runtime.session_factory) as session:
        below = await budget_settings.budget_status(
            session, workspace_id, now=now, settings=settings
        )
        assert below.alert is False
        await ledger.record_stored(session, [line], month="2026-03")  # 13.00 spent: over
        over = await budget_settings.budget_status(
            session, workspace_id, now=now, settings=settings
        )
    assert over.exhausted and over.alert and over.out().left_usd == "0.00"
    assert over.out().share_used == 1.45


async def _local_workspace(session: AsyncSession) -> uuid.UUID:
    return (await local_workspace(session)).id
