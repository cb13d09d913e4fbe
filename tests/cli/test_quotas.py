"""The command line's local workspace is not limited unless ``ECHO_AI_BILLING__LOCAL__...``
says so; then every quota, and the budget, refuse ``echo-ai run`` before anything is
stored or sent, with one line naming the limit, the usage and the limit's value."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from echo_ai.auth.schemas import Registration
from echo_ai.cli import app
from echo_ai.config import get_settings
from echo_ai.db import create_engine, create_session_factory, transaction, utcnow
from echo_ai.experiments import service as experiment_service
from echo_ai.metering.models import UsageMonth, WorkspaceBudget
from echo_ai.metering.units import month_of
from echo_ai.privacy.audit import Actor
from echo_ai.runs.models import BatchRun, Experiment, Iteration
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID, local_workspace
from tests.factories import experiment_input
from tests.kit import PASSWORD

pytestmark = pytest.mark.usefixtures("cli_env")

T = TypeVar("T")
RUN = ("run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--competitor", "Salesforce")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def in_database(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in a transaction on the command line's database (migrated first by a
    command that reads it)."""

    async def go() -> T:
        engine = create_engine(get_settings())
        try:
            async with transaction(create_session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def ready() -> None:
    """The database migrated and the local workspace created (as any command does)."""
    code, _, err = invoke("usage", "--json")
    assert code == 0, err


def rows() -> dict[str, int]:
    async def count(session: AsyncSession) -> dict[str, int]:
        found = {}
        for name, model in (
            ("experiments", Experiment),
            ("batches", BatchRun),
            ("iterations", Iteration),
        ):
            found[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
        return found

    return in_database(count)


NOTHING = {"experiments": 0, "batches": 0, "iterations": 0}


def limit(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    monkeypatch.setenv(f"ECHO_AI_BILLING__LOCAL__{field.upper()}", value)
    get_settings.cache_clear()


def test_unlimited_by_default_and_per_experiment_when_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limit(monkeypatch, "max_iterations_per_experiment", "10")
    code, _, err = invoke(*RUN, "--iterations", "6", "--provider", "demo", "--provider", "demo:b")
    assert code == 2
    assert "error: the local plan allows at most 10 iterations per experiment" in err
    assert "asks for 12" in err
    assert rows() == NOTHING

    code, out, err = invoke(*RUN, "--iterations", "5", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"


def test_the_month_is_refused_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    ready()

    async def used(session: AsyncSession) -> None:
        session.add(
            UsageMonth(workspace_id=LOCAL_WORKSPACE_ID, month=month_of(utcnow()), iterations=45)
        )

    in_database(used)
    limit(monkeypatch, "iterations_per_month", "50")

    code, _, err = invoke(*RUN, "--iterations", "10")

    assert code == 2
    assert "the local plan allows 50 iterations per month; 45 are stored" in err
    assert "5 are left and this run asks for 10" in err
    assert rows() == NOTHING
    code, out, err = invoke("usage", "--json")
    assert code == 0, err
    quotas = {quota["name"]: quota for quota in json.loads(out)["quotas"]}
    assert quotas["iterations_per_month"] == {
        "name": "iterations_per_month",
        "limit": 50,
        "used": 45,
        "left": 5,
    }


def test_iterations_in_flight_are_refused_past_their_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ready()

    async def queued(session: AsyncSession) -> None:
        # A run stored but not started: its 40 iterations are in flight.
        await experiment_service.create(
            session, experiment_input(iterations=40), chunk_size=10, workspace_id=LOCAL_WORKSPACE_ID
        )

    in_database(queued)
    limit(monkeypatch, "max_iterations_in_flight", "50")

    code, _, err = invoke(*RUN, "--iterations", "20")

    assert code == 2
    assert "at most 50 iterations queued or running at once; 40 are" in err
    assert rows() == {"experiments": 1, "batches": 1, "iterations": 0}


def test_a_vendor_outside_the_plan_is_never_asked(
    monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    limit(monkeypatch, "providers", '["demo"]')

    code, _, err = invoke(*RUN, "--iterations", "5", "--provider", "openai:gpt-4o-mini")

    assert code == 2
    assert "the local plan does not include openai (it includes: demo)" in err
    assert rows() == NOTHING
    assert fake_llm.requests == []


def test_a_run_the_budget_cannot_pay_for_is_never_sent(
    monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    ready()

    async def budget(session: AsyncSession) -> None:
        session.add(WorkspaceBudget(workspace_id=LOCAL_WORKSPACE_ID, monthly_usd=Decimal("0.001")))

    in_database(budget)

    code, _, err = invoke(*RUN, "--iterations", "1000", "--provider", "openai:gpt-4o-mini")

    assert code == 2, err
    assert "the workspace's budget of $0.001 this month has $0.001 left" in err
    assert rows() == NOTHING
    assert fake_llm.requests == []


def test_members_of_the_local_workspace_are_limited_when_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ready()

    async def accounts(session: AsyncSession) -> None:
        for email in ("ada@example.com", "bob@example.com"):
            await workspaces.register(
                session,
                Registration(email=email, password=PASSWORD, accept_terms=True),
                actor=Actor(),
                settings=get_settings(),
            )

    in_database(accounts)
    limit(monkeypatch, "members", "1")
    code, _, err = invoke("local-workspace", "ada@example.com", "--role", "viewer")
    assert code == 0, err

    code, _, err = invoke("local-workspace", "bob@example.com", "--role", "viewer")

    assert code == 2
    assert "the local plan allows 1 members (pending invitations included)" in err
    # A member's role still changes.
    code, _, err = invoke("local-workspace", "ada@example.com", "--role", "admin")
    assert code == 0, err

    async def members(session: AsyncSession) -> int:
        from echo_ai.workspaces.quotas import members_count

        return (await members_count(session, (await local_workspace(session)).id, now=utcnow()))[0]

    assert in_database(members) == 1


def test_usage_of_another_workspace_and_an_unknown_one(cli_env: Path) -> None:
    code, out, err = invoke("usage")
    assert code == 0, err
    assert "plan local" in out and "iterations_per_month" in out and "no limit" in out
    code, _, err = invoke("usage", "--workspace", "00000000-0000-4000-8000-000000000001")
    assert code == 2 and "no workspace with id" in err


def test_experiments_show_says_why_a_scheduled_run_was_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from echo_ai.schedules.scheduler import start_due_runs

    ready()
    now = datetime(2030, 5, 17, 8, 30, tzinfo=UTC)

    async def scheduled(session: AsyncSession) -> str:
        created = await experiment_service.create(
            session,
            experiment_input(iterations=10, schedule={"cron": "0 * * * *"}),
            chunk_size=10,
            workspace_id=LOCAL_WORKSPACE_ID,
        )
        created.next_run_at = now - timedelta(minutes=1)
        await session.execute(
            update(BatchRun).where(BatchRun.experiment_id == created.id).values(status="completed")
        )
        return str(created.id)

    experiment_id = in_database(scheduled)
    limit(monkeypatch, "max_iterations_per_experiment", "5")

    async def tick(session: AsyncSession) -> int:
        return len(await start_due_runs(session, now=now, settings=get_settings()))

    assert in_database(tick) == 0
    code, out, err = invoke("experiments", "show", experiment_id)
    assert code == 0, err
    assert "scheduled run skipped" in out
    assert "2030-05-17 08:30 UTC" in out and "at most 5 iterations per experiment" in out
    code, out, err = invoke("experiments", "show", experiment_id, "--json")
    assert code == 0, err
    assert "at most 5 iterations" in json.loads(out)["skip_reason"]


def test_usage_reconcile_repairs_the_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = invoke(*RUN, "--iterations", "7", "--json")
    assert code == 0, err

    async def drift(session: AsyncSession) -> None:
        await session.execute(update(UsageMonth).values(iterations=1_234))

    in_database(drift)
    code, out, err = invoke("usage", "--json")
    assert code == 0, err
    assert json.loads(out)["iterations_stored"] == 1_234

    code, out, err = invoke("usage", "--json", "--reconcile")

    assert code == 0, err
    assert "1 repaired" in err
    assert json.loads(out)["iterations_stored"] == 7
