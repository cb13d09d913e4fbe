"""The budget alert: raised once a month when a workspace's cost reaches a share of its
monthly budget (``settings.billing.budget_alert_share``, 80% by default).

The runner checks after each chunk of a workspace with a budget has settled
(:meth:`echo_ai.execution.runner.Runner.run_chunk`). Raising it is a conditional UPDATE of
``workspace_budgets.alerted_month`` (set to the month only where it is another month), so
of several processes crossing the share together exactly one raises it; that one writes
the audit event ``workspace.budget_alert`` (actor ``system``, in the same transaction),
logs a warning and counts ``budget_alerts_total`` (Prometheus). The dashboard reads
``alerted_month`` to show it.

The audit event is written here, below the audit module's layer, as a plain insert into
``audit_events`` with the action :data:`BUDGET_ALERT_ACTION` (the value of
``privacy.audit.Action.BUDGET_ALERT``; a test keeps the two equal).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Uuid, column, insert, or_, select, table, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import UTCDateTime
from echo_ai.metering import ledger
from echo_ai.metering.models import WorkspaceBudget
from echo_ai.metering.units import month_of, to_nano, to_usd
from echo_ai.observability.metrics import record_budget_alert

log = logging.getLogger(__name__)

BUDGET_ALERT_ACTION = "workspace.budget_alert"
SYSTEM_ACTOR = "system"

_audit_events = table(
    "audit_events",
    column("id", Uuid()),
    column("created_at", UTCDateTime()),
    column("action"),
    column("workspace_id", Uuid()),
    column("actor_type"),
    column("target_type"),
    column("target_id"),
    column("details", JSON().with_variant(JSONB(), "postgresql")),
)


@dataclass(frozen=True)
class BudgetAlert:
    workspace_id: uuid.UUID
    month: str
    budget_usd: Decimal
    cost_usd: Decimal
    share: float


async def raise_budget_alert(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime, share: float
) -> BudgetAlert | None:
    """Raise the workspace's budget alert for the month of ``now`` if its stored cost has
    reached ``share`` of its monthly budget and it has not been raised this month; the
    alert if this call raised it, else None."""
    month = month_of(now)
    budget = (
        await session.execute(
            select(WorkspaceBudget.monthly_usd, WorkspaceBudget.alerted_month).where(
                WorkspaceBudget.workspace_id == workspace_id
            )
        )
    ).one_or_none()
    if budget is None or budget.alerted_month == month:
        return None
    cost_nusd = (await ledger.workspace_month(session, workspace_id, month)).cost_nusd
    cap = to_nano(budget.monthly_usd)
    if cost_nusd < cap * share:
        return None
    raised = await session.execute(
        update(WorkspaceBudget)
        .where(
            WorkspaceBudget.workspace_id == workspace_id,
            or_(WorkspaceBudget.alerted_month.is_(None), WorkspaceBudget.alerted_month != month),
        )
        .values(alerted_month=month)
        .execution_options(synchronize_session=False)
    )
    if getattr(raised, "rowcount", 0) != 1:
        return None  # another process raised it meanwhile
    alert = BudgetAlert(
        workspace_id=workspace_id,
        month=month,
        budget_usd=Decimal(budget.monthly_usd),
        cost_usd=to_usd(int(cost_nusd)),
        share=share,
    )
    await session.execute(
        insert(_audit_events).values(
            id=uuid.uuid4(),
            created_at=now,
            action=BUDGET_ALERT_ACTION,
            workspace_id=workspace_id,
            actor_type=SYSTEM_ACTOR,
            target_type="workspace",
            target_id=str(workspace_id),
            details={
                "month": month,
                "budget_usd": str(alert.budget_usd),
                "cost_usd": str(alert.cost_usd),
                "share": share,
            },
        )
    )
    log.warning(
        "workspace %s has spent $%s of its $%s budget for %s (alert at %.0f%%)",
        workspace_id,
        alert.cost_usd,
        alert.budget_usd,
        month,
        share * 100,
    )
    record_budget_alert()
    return alert
