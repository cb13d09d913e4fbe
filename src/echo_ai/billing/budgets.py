"""Whether a run's estimated cost fits the budgets left this month: checked before it is
stored (a new experiment, a re-run, a resume, a scheduled run).

The runner enforces the caps call by call (:mod:`echo_ai.metering.ledger`); this check
refuses at once a run that the budget left cannot pay for, so that it is not half-run. The
refusal is HTTP 402 ``budget_exhausted`` and its details name the ``limit``
(``monthly_budget_usd`` or ``experiment_budget_usd``), the ``limit_value``, the ``usage``
(cost stored plus reserved by calls in flight this month) and what the run would add
(``requested``), in USD. A run of a model missing from the price table, when a budget
applies, is refused too (HTTP 402 ``price_unknown``): its cost would count as nothing and
the cap could not stop it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.errors import AppError
from echo_ai.metering import ledger
from echo_ai.metering.models import WorkspaceBudget
from echo_ai.metering.units import month_of, to_usd
from echo_ai.text import usd


class BudgetExhausted(AppError):
    """A run (or a call) the budget left this month does not cover."""

    status_code = 402
    code = "budget_exhausted"

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


class PriceUnknown(AppError):
    """A run, under a budget, of a model whose price is not known: its cost cannot be
    counted against the budget."""

    status_code = 402
    code = "price_unknown"

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


async def spent_this_month(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime
) -> Decimal:
    """Cost stored plus cost reserved by calls in flight, this month, for the workspace."""
    counters = await ledger.workspace_month(session, workspace_id, month_of(now))
    return to_usd(counters.committed_nusd)


async def experiment_spent_this_month(
    session: AsyncSession, experiment_id: uuid.UUID, *, now: datetime
) -> Decimal:
    counters = await ledger.experiment_month(session, experiment_id, month_of(now))
    return to_usd(counters.committed_nusd)


async def monthly_budget(session: AsyncSession, workspace_id: uuid.UUID) -> Decimal | None:
    budget: Decimal | None = await session.scalar(
        select(WorkspaceBudget.monthly_usd).where(WorkspaceBudget.workspace_id == workspace_id)
    )
    return budget


def _refuse(limit: str, what: str, cap: Decimal, used: Decimal, requested: Decimal) -> None:
    if used + requested <= cap:
        return
    raise BudgetExhausted(
        f"{what} of {usd(cap)} this month has {usd(max(cap - used, Decimal(0)))} left "
        f"({usd(used)} spent or reserved), and this run is estimated at {usd(requested)}: "
        "raise the budget, or wait for next month",
        details={
            "limit": limit,
            "limit_value": str(cap),
            "usage": str(used),
            "requested": str(requested),
        },
    )


async def admit_spend(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    estimated_usd: Decimal,
    now: datetime,
    experiment_id: uuid.UUID | None = None,
    experiment_budget_usd: Decimal | None = None,
    unpriced: Sequence[str] = (),
) -> None:
    """Refuse (:class:`BudgetExhausted`) a run whose estimated cost would take this month's
    spend past the workspace's budget, or past the experiment's own cap (the experiment's
    spend so far counts when it has run before: ``experiment_id``); and (:class:`PriceUnknown`)
    one of ``unpriced`` providers (``vendor:model`` without a price) while either applies."""
    cap = await monthly_budget(session, workspace_id)
    if unpriced and (cap is not None or experiment_budget_usd is not None):
        limit = "monthly_budget_usd" if cap is not None else "experiment_budget_usd"
        names = ", ".join(unpriced)
        raise PriceUnknown(
            f"the price of {names} is not known, so the "
            f"{'workspace' if cap is not None else 'experiment'}'s budget cannot be enforced "
            "for these models: run without them, or an operator can add their prices with "
            "ECHO_AI_PRICES_FILE",
            details={"limit": limit, "providers": list(unpriced)},
        )
    if estimated_usd <= 0:
        return
    if cap is not None:
        used = await spent_this_month(session, workspace_id, now=now)
        _refuse("monthly_budget_usd", "the workspace's budget", cap, used, estimated_usd)
    if experiment_budget_usd is not None:
        used = (
            Decimal(0)
            if experiment_id is None
            else await experiment_spent_this_month(session, experiment_id, now=now)
        )
        _refuse(
            "experiment_budget_usd",
            "the experiment's budget",
            experiment_budget_usd,
            used,
            estimated_usd,
        )
