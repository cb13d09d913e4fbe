"""Spend control in the runner: each call reserves its estimated cost against the budgets,
a refusal stops the batch as ``budget_exhausted``, reservations always return to zero,
and a resume runs the rest once the budget allows (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from echo_ai.billing.budgets import BudgetExhausted
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.metering import alerts
from echo_ai.metering.models import ExperimentMonth, UsageMonth, WorkspaceBudget
from echo_ai.metering.units import month_of, to_usd
from echo_ai.observability.metrics import REGISTRY
from echo_ai.privacy.audit import Action, Actor, ActorKind
from echo_ai.privacy.models import AuditEvent
from echo_ai.providers.assumed import ASSUMED_OUTPUT_TOKENS, assumed_cost
from echo_ai.providers.base import Completion, CompletionRequest
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.runs.models import BatchStatus, Experiment, ExperimentStatus, Iteration
from tests.factories import experiment_input, stored_batches
from tests.kit import wait_until

pytestmark = pytest.mark.usefixtures("backend")

MODEL = "openai:gpt-4o-mini"
PROMPT = "What is the best CRM for a 10-person startup?"


class _Vendor:
    """A priced vendor at the network edge, counted: its answers are as long as the
    reservation assumes (the prompt's tokens in, 500 out), so each costs exactly what it
    reserved; ``error`` makes every call raise it."""

    name = "openai"

    def __init__(self) -> None:
        self.calls = 0
        self.error: BaseException | None = None

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        await asyncio.sleep(0.002)
        if self.error is not None:
            raise self.error
        return Completion(
            text=f"1. HubSpot\n2. Salesforce (answer {request.seed})",
            model_version="scripted-1",
            input_tokens=approximate_tokens(PROMPT),
            output_tokens=ASSUMED_OUTPUT_TOKENS,
            latency_ms=2.0,
        )

    async def aclose(self) -> None:
        return None


@pytest.fixture
def vendor(runtime: Runtime) -> _Vendor:
    registered = _Vendor()
    runtime.providers.register(registered)
    runtime.settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"  # resume checks it
    return registered


def per_call() -> Decimal:
    cost = assumed_cost("openai", "gpt-4o-mini", approximate_tokens(PROMPT), grounding=False)
    assert cost is not None and cost > 0
    return cost


async def _experiment(
    runtime: Runtime,
    *,
    iterations: int,
    monthly_usd: Decimal | None = None,
    experiment_usd: Decimal | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    workspace_id = uuid.uuid4()
    async with transaction(runtime.session_factory) as session:
        if monthly_usd is not None:
            session.add(WorkspaceBudget(workspace_id=workspace_id, monthly_usd=monthly_usd))
        experiment = await experiment_service.create(
            session,
            experiment_input(prompt=PROMPT, providers=[MODEL], iterations=iterations),
            chunk_size=10,
            workspace_id=workspace_id,
        )
        experiment.budget_usd = experiment_usd
        return workspace_id, experiment.id


async def _counters(
    runtime: Runtime, workspace_id: uuid.UUID, experiment_id: uuid.UUID
) -> tuple[int, int, int]:
    """(workspace cost, workspace reserved, experiment reserved) this month, nano-USD."""
    month = month_of(utcnow())
    async with transaction(runtime.session_factory) as session:
        usage = (
            await session.execute(
                select(UsageMonth.cost_nusd, UsageMonth.reserved_nusd).where(
                    UsageMonth.workspace_id == workspace_id, UsageMonth.month == month
                )
            )
        ).one()
        own = await session.scalar(
            select(ExperimentMonth.reserved_nusd).where(
                ExperimentMonth.experiment_id == experiment_id, ExperimentMonth.month == month
            )
        )
        return int(usage.cost_nusd), int(usage.reserved_nusd), int(own or 0)


async def _stored_cost(runtime: Runtime, experiment_id: uuid.UUID) -> Decimal:
    async with transaction(runtime.session_factory) as session:
        (batch,) = (await experiment_service.get(session, experiment_id)).batch_runs
        total = await session.scalar(
            select(func.sum(Iteration.cost_usd)).where(Iteration.batch_run_id == batch.id)
        )
        return Decimal(total or 0)


async def test_reservations_return_to_zero_after_a_run(runtime: Runtime, vendor: _Vendor) -> None:
    workspace_id, experiment_id = await _experiment(
        runtime, iterations=30, monthly_usd=Decimal("100")
    )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED and batch.stored == 30
    cost, reserved, experiment_reserved = await _counters(runtime, workspace_id, experiment_id)
    assert (reserved, experiment_reserved) == (0, 0)
    stored = await _stored_cost(runtime, experiment_id)
    assert stored > 0 and abs(to_usd(cost) - stored) < Decimal("1e-9")


async def test_a_refused_reservation_stops_the_batch_as_budget_exhausted(
    runtime: Runtime, vendor: _Vendor
) -> None:
    budget = (per_call() * 7).quantize(Decimal("0.00000001"))
    workspace_id, experiment_id = await _experiment(runtime, iterations=60, monthly_usd=budget)
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.BUDGET_EXHAUSTED
    assert batch.error_code == "budget_exhausted"
    assert "Refused by the workspace's monthly budget" in (batch.error or "")
    assert batch.stored == 7  # each call cost what it reserved: seven fit
    assert vendor.calls == batch.stored  # no call was made that was not stored
    assert batch.metrics is not None  # settled like a failed batch: partial figures
    cost, reserved, experiment_reserved = await _counters(runtime, workspace_id, experiment_id)
    assert (reserved, experiment_reserved) == (0, 0)
    assert to_usd(cost) <= budget
    async with transaction(runtime.session_factory) as session:
        experiment = await session.get(Experiment, experiment_id)
        assert experiment is not None
        assert experiment.status == ExperimentStatus.BUDGET_EXHAUSTED


async def test_the_experiments_own_cap_stops_it_too(runtime: Runtime, vendor: _Vendor) -> None:
    cap = (per_call() * 3).quantize(Decimal("0.00000001"))
    workspace_id, experiment_id = await _experiment(runtime, iterations=40, experiment_usd=cap)
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.BUDGET_EXHAUSTED
    assert "the experiment's budget" in (batch.error or "")
    _, reserved, experiment_reserved = await _counters(runtime, workspace_id, experiment_id)
    assert (reserved, experiment_reserved) == (0, 0)


async def test_a_call_that_crashes_before_storing_releases_its_reservation(
    runtime: Runtime, vendor: _Vendor
) -> None:
    vendor.error = RuntimeError("adapter bug")
    workspace_id, experiment_id = await _experiment(
        runtime, iterations=30, monthly_usd=Decimal("100")
    )
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.FAILED and batch.stored == 0
    _, reserved, experiment_reserved = await _counters(runtime, workspace_id, experiment_id)
    assert (reserved, experiment_reserved) == (0, 0)


async def test_no_cap_no_reservation_and_the_demo_provider_reserves_nothing(
    runtime: Runtime, vendor: _Vendor
) -> None:
    _, experiment_id = await _experiment(runtime, iterations=10)
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED

    # A budget of nothing at all: the free demo provider still runs (it reserves nothing).
    demo_workspace = uuid.uuid4()
    async with transaction(runtime.session_factory) as session:
        session.add(WorkspaceBudget(workspace_id=demo_workspace, monthly_usd=Decimal(0)))
        demo = await experiment_service.create(
            session,
            experiment_input(providers=["demo"], iterations=10),
            chunk_size=10,
            workspace_id=demo_workspace,
        )
    await runtime.executor.run_experiment(demo.id)
    (batch,) = await stored_batches(runtime.session_factory, demo.id)
    assert batch.status == BatchStatus.COMPLETED


async def test_resume_is_refused_until_the_budget_allows_then_runs_the_rest(
    runtime: Runtime, vendor: _Vendor
) -> None:
    budget = (per_call() * 5).quantize(Decimal("0.00000001"))
    workspace_id, experiment_id = await _experiment(runtime, iterations=40, monthly_usd=budget)
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.BUDGET_EXHAUSTED
    stored_before = batch.stored

    async def resume() -> int:
        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, experiment_id)
            return await experiment_service.resume(
                session, experiment, actor=Actor.cli(), runtime=runtime
            )

    with pytest.raises(BudgetExhausted) as refused:
        await resume()
    assert refused.value.details["limit"] == "monthly_budget_usd"
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.BUDGET_EXHAUSTED  # nothing was reopened
    assert vendor.calls == stored_before  # nor sent

    async with transaction(runtime.session_factory) as session:
        budget_row = await session.get(WorkspaceBudget, workspace_id)
        assert budget_row is not None
        budget_row.monthly_usd = Decimal("100")
    assert await resume() == 1

    async def finished() -> bool:
        (batch,) = await stored_batches(runtime.session_factory, experiment_id)
        return batch.status == BatchStatus.COMPLETED

    await wait_until(finished)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED and batch.stored == 40
    _, reserved, _ = await _counters(runtime, workspace_id, experiment_id)
    assert reserved == 0


async def test_the_budget_alert_is_raised_once_a_month_at_its_share(
    runtime: Runtime, vendor: _Vendor, caplog: pytest.LogCaptureFixture
) -> None:
    budget = (per_call() * 10).quantize(Decimal("0.00000001"))
    before = REGISTRY.get_sample_value("budget_alerts_total") or 0.0
    workspace_id, first = await _experiment(runtime, iterations=7, monthly_usd=budget)
    await runtime.executor.run_experiment(first)  # 70%: below the 80% share
    async with transaction(runtime.session_factory) as session:
        row = await session.get(WorkspaceBudget, workspace_id)
        assert row is not None and row.alerted_month is None

    async with transaction(runtime.session_factory) as session:
        second = await experiment_service.create(
            session,
            experiment_input(prompt=PROMPT, providers=[MODEL], iterations=2),
            chunk_size=10,
            workspace_id=workspace_id,
        )
    await runtime.executor.run_experiment(second.id)  # 90%
    async with transaction(runtime.session_factory) as session:
        row = await session.get(WorkspaceBudget, workspace_id)
        assert row is not None and row.alerted_month == month_of(utcnow())
        events = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.workspace_id == workspace_id,
                    AuditEvent.action == Action.BUDGET_ALERT,
                )
            )
        )
        # Raised once: a second check this month changes nothing.
        assert (
            await alerts.raise_budget_alert(session, workspace_id, now=utcnow(), share=0.8) is None
        )
    (event,) = events
    assert event.actor_type == ActorKind.SYSTEM and event.target_id == str(workspace_id)
    assert event.details["budget_usd"] == str(budget) and event.details["share"] == 0.8
    assert Decimal(event.details["cost_usd"]) >= budget * Decimal("0.8")
    assert (REGISTRY.get_sample_value("budget_alerts_total") or 0.0) == before + 1
    assert any("of its $" in record.getMessage() for record in caplog.records)


def test_the_alerts_audit_names_are_the_audit_modules() -> None:
    assert alerts.BUDGET_ALERT_ACTION == Action.BUDGET_ALERT
    assert alerts.SYSTEM_ACTOR == ActorKind.SYSTEM
