"""Setting budgets: a workspace's monthly budget and an experiment's own monthly cap, and
where the workspace stands against its budget this month.

Who may: the clients decide by role (owners and admins set the workspace's budget,
writers an experiment's cap, every member reads the status); these use cases check the
amounts (:data:`~echo_ai.billing.spend_schemas.BudgetAmount`, also checked here for
callers that skip the schema) and audit every change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Uuid, column, delete, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing import budgets
from echo_ai.config import Settings
from echo_ai.errors import AppError, NotFound
from echo_ai.metering import ledger
from echo_ai.metering.models import WorkspaceBudget
from echo_ai.metering.units import month_of, to_usd, usd_text
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.runs import service as run_service
from echo_ai.runs.models import Experiment

from .spend_schemas import BudgetStatusOut, checked_usd, parse_usd

# The workspaces package sits above billing: its table is read by name, for existence only.
_workspaces = table("workspaces", column("id", Uuid()))


class InvalidBudget(AppError):
    status_code = 422
    code = "invalid_budget"


def check_amount(monthly_usd: Decimal) -> Decimal:
    """The amount in cents, or :class:`InvalidBudget` saying what is wrong with it."""
    try:
        return checked_usd(monthly_usd)
    except ValueError as refused:
        raise InvalidBudget(str(refused)) from None


def parse_amount(text: str) -> Decimal:
    """A budget typed by a person (``50``, ``12.50``, ``$1,000``), checked like
    :func:`check_amount`; anything else is :class:`InvalidBudget`."""
    try:
        return parse_usd(text, typed=True)
    except ValueError as refused:
        raise InvalidBudget(str(refused)) from None


async def _require_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    found = await session.scalar(select(_workspaces.c.id).where(_workspaces.c.id == workspace_id))
    if found is None:
        raise NotFound(f"no workspace with id {workspace_id}")


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else usd_text(amount)


async def set_workspace_budget(
    session: AsyncSession, workspace_id: uuid.UUID, monthly_usd: Decimal, *, actor: Actor
) -> WorkspaceBudget:
    """Set (or change) the workspace's monthly budget: its calls stop when this month's
    spend reaches it."""
    amount = check_amount(monthly_usd)
    await _require_workspace(session, workspace_id)
    budget = await session.get(WorkspaceBudget, workspace_id)
    previous = None if budget is None else budget.monthly_usd
    if budget is None:
        budget = WorkspaceBudget(workspace_id=workspace_id, monthly_usd=amount)
        session.add(budget)
    else:
        budget.monthly_usd = amount
        if previous is not None and amount > previous:
            # A raised budget may cross the alert level again this month: alert again.
            budget.alerted_month = None
    await session.flush()
    await audit.record(
        session,
        Action.BUDGET_SET,
        actor=actor,
        workspace_id=workspace_id,
        target_type="workspace",
        target_id=workspace_id,
        details={"from": _text(previous), "to": usd_text(amount)},
    )
    return budget


async def clear_workspace_budget(
    session: AsyncSession, workspace_id: uuid.UUID, *, actor: Actor
) -> bool:
    """Remove the workspace's budget (no cap any more); False when it had none."""
    await _require_workspace(session, workspace_id)
    previous = await session.scalar(
        select(WorkspaceBudget.monthly_usd).where(WorkspaceBudget.workspace_id == workspace_id)
    )
    if previous is None:
        return False
    await session.execute(
        delete(WorkspaceBudget).where(WorkspaceBudget.workspace_id == workspace_id)
    )
    await session.flush()
    await audit.record(
        session,
        Action.BUDGET_CLEARED,
        actor=actor,
        workspace_id=workspace_id,
        target_type="workspace",
        target_id=workspace_id,
        details={"from": usd_text(previous)},
    )
    return True


async def set_experiment_budget(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    experiment_id: uuid.UUID,
    monthly_usd: Decimal | None,
    *,
    actor: Actor,
) -> Experiment:
    """Set the experiment's own monthly cap (``None`` clears it): its runs stop when its
    spend this month reaches it, whatever the workspace's budget has left. An experiment of
    another workspace is not found."""
    amount = None if monthly_usd is None else check_amount(monthly_usd)
    experiment = await run_service.find_experiment(session, experiment_id, workspace_id)
    previous = experiment.budget_usd
    experiment.budget_usd = amount
    await session.flush()
    if previous == amount:
        return experiment
    await audit.record(
        session,
        Action.EXPERIMENT_BUDGET_CLEARED if amount is None else Action.EXPERIMENT_BUDGET_SET,
        actor=actor,
        workspace_id=workspace_id,
        target_type="experiment",
        target_id=experiment.id,
        details={"from": _text(previous), "to": _text(amount)},
    )
    return experiment


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    month: str
    monthly_usd: Decimal | None
    spent_usd: Decimal
    reserved_usd: Decimal
    iterations: int
    alert_share: float

    @property
    def used_usd(self) -> Decimal:
        return self.spent_usd + self.reserved_usd

    @property
    def left_usd(self) -> Decimal | None:
        if self.monthly_usd is None:
            return None
        return max(self.monthly_usd - self.used_usd, Decimal(0))

    @property
    def share_used(self) -> float | None:
        if self.monthly_usd is None:
            return None
        return float(self.used_usd / self.monthly_usd)

    @property
    def alert(self) -> bool:
        share = self.share_used
        return share is not None and share >= self.alert_share

    @property
    def exhausted(self) -> bool:
        return self.monthly_usd is not None and self.used_usd >= self.monthly_usd

    def out(self) -> BudgetStatusOut:
        share = self.share_used
        return BudgetStatusOut(
            month=self.month,
            monthly_usd=_text(self.monthly_usd),
            spent_usd=usd_text(self.spent_usd),
            reserved_usd=usd_text(self.reserved_usd),
            left_usd=_text(self.left_usd),
            share_used=None if share is None else round(share, 4),
            alert_share=self.alert_share,
            alert=self.alert,
            exhausted=self.exhausted,
            iterations=self.iterations,
        )


async def budget_status(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime, settings: Settings
) -> BudgetStatus:
    """The workspace's budget and this month's spend (stored cost), reserved cost (calls in
    flight) and iterations, from the month counters."""
    month = month_of(now)
    counters = await ledger.workspace_month(session, workspace_id, month)
    return BudgetStatus(
        month=month,
        monthly_usd=await budgets.monthly_budget(session, workspace_id),
        spent_usd=to_usd(counters.cost_nusd),
        reserved_usd=to_usd(counters.reserved_nusd),
        iterations=counters.iterations,
        alert_share=settings.billing.budget_alert_share,
    )
