"""HTTP routes of budgets and cost reports.

Every member of the workspace (viewers included) reads its budget status and cost
reports; owners and admins (signed in as users) set or clear the workspace's monthly
budget; writers (members and up, or a write-scoped key) set or clear an experiment's own
monthly cap. Money is a decimal string in USD; months are ``YYYY-MM`` in UTC.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from echo_ai.api.auth import CurrentPrincipal, ManagerPrincipal, PrincipalActor, WritePrincipal
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.billing import budget_settings, costs
from echo_ai.billing.spend_schemas import (
    BudgetIn,
    BudgetStatusOut,
    CostReportOut,
    ExperimentBudgetOut,
    GroupBy,
)
from echo_ai.db import utcnow
from echo_ai.metering.units import usd_text
from echo_ai.text import SingleLine

router = APIRouter(tags=["costs"], responses=error_responses(*AUTH_ERRORS, 422))

Month = Annotated[str, SingleLine(max_length=7)]
FromQuery = Annotated[
    Month | None,
    Query(alias="from", description="The first month, `YYYY-MM` (default: `to`'s month)."),
]
ToQuery = Annotated[
    Month | None,
    Query(alias="to", description="The last month, `YYYY-MM` (default: this one)."),
]
GroupQuery = Annotated[
    GroupBy,
    Query(
        description="One line per month, provider, experiment or purpose (answers, "
        "candidate prompts, sentiment judge: calls made outside experiments' answers)."
    ),
]


@router.get("/v1/budget", response_model=BudgetStatusOut)
async def get_budget(
    principal: CurrentPrincipal, session: SessionDep, state: StateDep
) -> BudgetStatusOut:
    """The workspace's monthly budget and where this month stands: spent (iterations
    stored), reserved (calls in flight), left, the share used and whether the soft alert
    level (`billing.budget_alert_share`, 80% by default) or the cap is reached."""
    found = await budget_settings.budget_status(
        session, principal.workspace_id, now=utcnow(), settings=state.settings
    )
    return found.out()


@router.put("/v1/budget", response_model=BudgetStatusOut, responses=error_responses(*BODY_ERRORS))
async def set_budget(
    data: BudgetIn,
    principal: ManagerPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> BudgetStatusOut:
    """Set (or change) the workspace's monthly budget: the hard cap of its LLM spend per
    calendar month (owners and admins). Runs that would pass it are refused (402
    `budget_exhausted`) and running batches stop at it."""
    await budget_settings.set_workspace_budget(
        session, principal.workspace_id, data.amount, actor=actor
    )
    found = await budget_settings.budget_status(
        session, principal.workspace_id, now=utcnow(), settings=state.settings
    )
    return found.out()


@router.delete("/v1/budget", status_code=status.HTTP_204_NO_CONTENT)
async def clear_budget(
    principal: ManagerPrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """Remove the workspace's budget: no cap any more (owners and admins). Clearing a
    workspace without a budget does nothing."""
    await budget_settings.clear_workspace_budget(session, principal.workspace_id, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/v1/experiments/{experiment_id}/budget",
    response_model=ExperimentBudgetOut,
    tags=["experiments"],
    responses=error_responses(*BODY_ERRORS),
)
async def set_experiment_budget(
    experiment_id: uuid.UUID,
    data: BudgetIn,
    principal: WritePrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> ExperimentBudgetOut:
    """Cap the experiment's own spend per calendar month (writers), within the workspace's
    budget: its runs stop when its month's spend reaches the cap."""
    experiment = await budget_settings.set_experiment_budget(
        session, principal.workspace_id, experiment_id, data.amount, actor=actor
    )
    assert experiment.budget_usd is not None
    return ExperimentBudgetOut(
        experiment_id=experiment.id, monthly_usd=usd_text(experiment.budget_usd)
    )


@router.delete(
    "/v1/experiments/{experiment_id}/budget",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["experiments"],
)
async def clear_experiment_budget(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    """Remove the experiment's own cap (writers): only the workspace's budget applies."""
    await budget_settings.set_experiment_budget(
        session, principal.workspace_id, experiment_id, None, actor=actor
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/costs", response_model=CostReportOut)
async def cost_report(
    principal: CurrentPrincipal,
    session: SessionDep,
    from_month: FromQuery = None,
    to_month: ToQuery = None,
    group_by: GroupQuery = "month",
) -> CostReportOut:
    """Iterations stored and their cost in a range of months (at most 36; default this
    month), one line per month (oldest first), provider `vendor:model` or experiment
    (costliest first; a deleted experiment's lines stay, labelled `(deleted experiment)`).
    A month not as `YYYY-MM`, `from` after `to` or a longer range is 422 `invalid_months`."""
    report = await costs.report_of(
        session,
        principal.workspace_id,
        from_month=from_month,
        to_month=to_month,
        group_by=group_by,
        now=utcnow(),
    )
    return report.out()


@router.get(
    "/v1/costs.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "The report as CSV: the group's columns (`month`; `provider`; or "
            "`experiment_id`, `experiment`, `deleted`), then `iterations`, `cost_usd` (a "
            "plain decimal string) and `synthetic` (`yes`, `no`, `partly`: iterations of "
            "the offline demo provider).",
        }
    },
)
async def cost_report_csv(
    principal: CurrentPrincipal,
    session: SessionDep,
    from_month: FromQuery = None,
    to_month: ToQuery = None,
    group_by: GroupQuery = "month",
) -> StreamingResponse:
    """The cost report (same query as `GET /v1/costs`) as a CSV download, streamed."""
    report = await costs.report_of(
        session,
        principal.workspace_id,
        from_month=from_month,
        to_month=to_month,
        group_by=group_by,
        now=utcnow(),
    )
    return StreamingResponse(
        costs.csv_rows(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{costs.csv_filename(report)}"'},
    )
