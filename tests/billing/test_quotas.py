"""Every quota of a plan, and the budget, refuse a use case through the API before anything
is stored or sent (both backends): 402 ``quota_exceeded`` or ``budget_exhausted``, 403
``plan_forbids_provider``, each naming the limit, the usage and the limit's value."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from echo_ai.auth.models import User
from echo_ai.billing.estimate import estimate
from echo_ai.config import PlanLimits, Settings
from echo_ai.db import transaction, utcnow
from echo_ai.metering.models import UsageMonth, WorkspaceBudget
from echo_ai.metering.units import month_of, to_nano
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs.models import BatchRun, Experiment, Iteration
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces.models import Invitation, Membership
from tests.kit import app_runtime, register_and_login

pytestmark = pytest.mark.usefixtures("backend")

BRANDS = {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]}
PROMPT = "What is the best CRM for a 10-person startup?"


def body(providers: list[str], iterations: int, **more: Any) -> dict[str, Any]:
    return {
        "prompt": PROMPT,
        "brands": BRANDS,
        "providers": providers,
        "iterations": iterations,
        **more,
    }


async def _workspace_of(app: FastAPI, email: str) -> uuid.UUID:
    async with transaction(app_runtime(app).session_factory) as session:
        found = await session.scalar(
            select(Membership.workspace_id).join(User).where(User.email == email)
        )
    assert found is not None
    return found


async def _rows(app: FastAPI) -> dict[str, int]:
    """Experiments, batches and iterations stored in the app's database."""
    counts: dict[str, int] = {}
    async with transaction(app_runtime(app).session_factory) as session:
        for name, model in (
            ("experiments", Experiment),
            ("batches", BatchRun),
            ("iterations", Iteration),
        ):
            counts[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    return counts


NOTHING = {"experiments": 0, "batches": 0, "iterations": 0}


def _fake_openai(settings: Settings, fake_llm: FakeLLMServer) -> str:
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    return "openai:gpt-4o-mini"


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


async def test_a_run_larger_than_the_plan_allows_per_experiment(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(max_iterations_per_experiment=30)
    ada = await register_and_login(client)

    refused = await client.post("/v1/experiments", json=body(["demo", "demo:b"], 20), headers=ada)

    error = _error(refused, 402, "quota_exceeded")
    assert error["details"] == {
        "limit": "max_iterations_per_experiment",
        "plan": "free",
        "limit_value": 30,
        "usage": 40,
        "requested": 40,
    }
    assert await _rows(started_app) == NOTHING
    allowed = await client.post("/v1/experiments", json=body(["demo"], 30), headers=ada)
    assert allowed.status_code == 202, allowed.text


async def test_the_month_counts_stored_and_in_flight_iterations(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(iterations_per_month=100)
    ada = await register_and_login(client)
    workspace_id = await _workspace_of(started_app, "ada@example.com")
    async with transaction(app_runtime(started_app).session_factory) as session:
        session.add(UsageMonth(workspace_id=workspace_id, month=month_of(utcnow()), iterations=95))
    # An old month's usage does not count.
    async with transaction(app_runtime(started_app).session_factory) as session:
        session.add(UsageMonth(workspace_id=workspace_id, month="2001-01", iterations=10_000))

    refused = await client.post("/v1/experiments", json=body(["demo"], 10), headers=ada)

    error = _error(refused, 402, "quota_exceeded")
    assert error["details"] == {
        "limit": "iterations_per_month",
        "plan": "free",
        "limit_value": 100,
        "usage": 95,
        "requested": 10,
    }
    assert "100" in error["message"] and "5 are left" in error["message"]
    assert await _rows(started_app) == NOTHING
    allowed = await client.post("/v1/experiments", json=body(["demo"], 5), headers=ada)
    assert allowed.status_code == 202, allowed.text

    usage = await client.get("/v1/usage", headers=ada)
    assert usage.status_code == 200, usage.text
    month = {quota["name"]: quota for quota in usage.json()["quotas"]}["iterations_per_month"]
    assert month["limit"] == 100 and month["used"] == 100 and month["left"] == 0


async def test_a_vendor_outside_the_plan_is_forbidden_and_never_asked(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    settings.billing.free = PlanLimits(providers=["demo"])
    openai = _fake_openai(settings, fake_llm)
    ada = await register_and_login(client)

    refused = await client.post("/v1/experiments", json=body(["demo", openai], 5), headers=ada)

    error = _error(refused, 403, "plan_forbids_provider")
    assert error["details"] == {
        "limit": "providers",
        "plan": "free",
        "limit_value": ["demo"],
        "usage": ["demo", "openai"],
        "requested": ["openai"],
    }
    assert await _rows(started_app) == NOTHING
    assert fake_llm.requests == []


async def test_schedules_past_the_plans_count_are_refused(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(scheduled_experiments=1)
    ada = await register_and_login(client)
    hourly = {"cron": "0 * * * *", "timezone": "UTC"}
    first = await client.post(
        "/v1/experiments", json=body(["demo"], 5, schedule=hourly), headers=ada
    )
    assert first.status_code == 202, first.text
    before = await _rows(started_app)

    second = await client.post(
        "/v1/experiments", json=body(["demo"], 5, schedule=hourly), headers=ada
    )

    error = _error(second, 402, "quota_exceeded")
    assert error["details"] == {
        "limit": "scheduled_experiments",
        "plan": "free",
        "limit_value": 1,
        "usage": 1,
        "requested": 1,
    }
    assert (await _rows(started_app))["experiments"] == before["experiments"]
    # Replacing the schedule of the scheduled experiment adds none...
    replaced = await client.put(
        f"/v1/experiments/{first.json()['id']}/schedule",
        json={"cron": "0 9 * * *", "timezone": "UTC"},
        headers=ada,
    )
    assert replaced.status_code == 200, replaced.text
    # ...but scheduling another one would.
    plain = await client.post("/v1/experiments", json=body(["demo"], 5), headers=ada)
    assert plain.status_code == 202, plain.text
    scheduled = await client.put(
        f"/v1/experiments/{plain.json()['id']}/schedule", json=hourly, headers=ada
    )
    assert _error(scheduled, 402, "quota_exceeded")["details"]["limit"] == "scheduled_experiments"
    detail = await client.get(f"/v1/experiments/{plain.json()['id']}", headers=ada)
    assert detail.json()["schedule"] is None


async def test_members_and_pending_invitations_count_against_the_plan(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(members=2)
    owner = await register_and_login(client, "owner@example.com")
    created = await client.post("/v1/workspaces", headers=owner, json={"name": "Acme"})
    team = {**owner, "X-Workspace-ID": created.json()["id"]}
    first = await client.post(
        "/v1/invitations", headers=team, json={"email": "bob@example.com", "role": "member"}
    )
    assert first.status_code == 201, first.text
    # Inviting the same address again replaces its invitation: allowed.
    again = await client.post(
        "/v1/invitations", headers=team, json={"email": "bob@example.com", "role": "member"}
    )
    assert again.status_code == 201, again.text

    refused = await client.post(
        "/v1/invitations", headers=team, json={"email": "eve@example.com", "role": "member"}
    )

    error = _error(refused, 402, "quota_exceeded")
    assert error["details"] == {
        "limit": "members",
        "plan": "free",
        "limit_value": 2,
        "usage": 2,
        "requested": 1,
    }
    async with transaction(app_runtime(started_app).session_factory) as session:
        emails = set(await session.scalars(select(Invitation.email)))
    assert emails == {"bob@example.com"}

    # The plan shrinks before Bob accepts: his acceptance is refused, and nothing changes.
    settings.billing.free = PlanLimits(members=1)
    bob = await register_and_login(client, "bob@example.com")
    accepted = await client.post(
        "/v1/invitations/accept", headers=bob, json={"token": again.json()["token"]}
    )
    assert _error(accepted, 402, "quota_exceeded")["details"]["usage"] == 1
    async with transaction(app_runtime(started_app).session_factory) as session:
        members = await session.scalar(
            select(func.count()).where(Membership.workspace_id == uuid.UUID(created.json()["id"]))
        )
    assert members == 1
    settings.billing.free = PlanLimits(members=2)
    accepted = await client.post(
        "/v1/invitations/accept", headers=bob, json={"token": again.json()["token"]}
    )
    assert accepted.status_code == 201, accepted.text


async def test_a_run_the_budget_cannot_pay_for_is_refused_and_never_sent(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    openai = _fake_openai(settings, fake_llm)
    ada = await register_and_login(client)
    workspace_id = await _workspace_of(started_app, "ada@example.com")
    cost = estimate(PROMPT, [ProviderSpec.parse(openai)], 1_000, grounding=False).known_usd
    assert cost > Decimal("0.001")
    async with transaction(app_runtime(started_app).session_factory) as session:
        session.add(WorkspaceBudget(workspace_id=workspace_id, monthly_usd=Decimal("0.001")))

    refused = await client.post("/v1/experiments", json=body([openai], 1_000), headers=ada)

    error = _error(refused, 402, "budget_exhausted")
    assert error["details"]["limit"] == "monthly_budget_usd"
    assert Decimal(error["details"]["limit_value"]) == Decimal("0.001")
    assert Decimal(error["details"]["usage"]) == 0
    assert Decimal(error["details"]["requested"]) == cost
    assert await _rows(started_app) == NOTHING
    assert fake_llm.requests == []


async def test_an_experiments_own_budget_refuses_a_run_it_cannot_pay_for(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    openai = _fake_openai(settings, fake_llm)
    ada = await register_and_login(client)
    cost = estimate(PROMPT, [ProviderSpec.parse(openai)], 2_000, grounding=False).known_usd
    assert cost > Decimal("0.01")

    refused = await client.post(
        "/v1/experiments", json=body([openai], 2_000, budget_usd="0.01"), headers=ada
    )

    error = _error(refused, 402, "budget_exhausted")
    assert error["details"]["limit"] == "experiment_budget_usd"
    assert Decimal(error["details"]["limit_value"]) == Decimal("0.01")
    assert await _rows(started_app) == NOTHING
    assert fake_llm.requests == []
    invalid = await client.post(
        "/v1/experiments", json=body(["demo"], 5, budget_usd="0"), headers=ada
    )
    assert invalid.status_code == 422, invalid.text
    # A budget the run fits in is stored with the experiment and shown.
    allowed = await client.post(
        "/v1/experiments", json=body(["demo"], 5, budget_usd="25.50"), headers=ada
    )
    assert allowed.status_code == 202, allowed.text
    assert Decimal(allowed.json()["budget_usd"]) == Decimal("25.50")
    assert to_nano(Decimal(allowed.json()["budget_usd"])) == 25_500_000_000


async def test_usage_is_readable_by_any_member(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    settings.billing.free = PlanLimits(
        members=5, scheduled_experiments=3, iterations_per_month=1_000, providers=["demo"]
    )
    owner = await register_and_login(client, "owner@example.com")
    created = await client.post("/v1/workspaces", headers=owner, json={"name": "Acme"})
    team = {**owner, "X-Workspace-ID": created.json()["id"]}
    invited = await client.post(
        "/v1/invitations", headers=team, json={"email": "vic@example.com", "role": "viewer"}
    )
    vic = await register_and_login(client, "vic@example.com")
    accepted = await client.post(
        "/v1/invitations/accept", headers=vic, json={"token": invited.json()["token"]}
    )
    assert accepted.status_code == 201
    pending = await client.post(
        "/v1/invitations", headers=team, json={"email": "zed@example.com", "role": "member"}
    )
    assert pending.status_code == 201

    usage = await client.get("/v1/usage", headers={**vic, "X-Workspace-ID": created.json()["id"]})

    assert usage.status_code == 200, usage.text
    shown = usage.json()
    assert shown["plan"] == "free" and shown["month"] == month_of(utcnow())
    assert shown["members"] == 2 and shown["pending_invitations"] == 1
    assert shown["providers"] == ["demo"] and shown["cost_usd"] == "0.00"
    quotas = {quota["name"]: quota for quota in shown["quotas"]}
    assert quotas["members"] == {"name": "members", "limit": 5, "used": 3, "left": 2}
    assert quotas["iterations_per_month"]["left"] == 1_000
    assert (await client.get("/v1/usage")).status_code == 401
