"""The costs page: the workspace's monthly budget (set or cleared by owners and admins),
where this month stands against it (a warning at the alert level and at the cap), and the
cost report of a month range by month, provider, experiment or purpose, with its CSV
download;
and an experiment's own monthly cap (writers), set from the experiment's page.

Every member reads the page. Writes are POSTs with the CSRF token calling the use cases
the API calls; a refused amount comes back in the form (422) with the reason beside it.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.billing import budget_settings, costs
from echo_ai.billing.budget_settings import InvalidBudget
from echo_ai.billing.costs import GROUPS, InvalidMonths
from echo_ai.billing.spend_schemas import GroupBy
from echo_ai.db import utcnow
from echo_ai.experiments import service as experiments
from echo_ai.metering.models import NO_EXPERIMENT
from echo_ai.metering.units import month_of, usd_text
from echo_ai.web.forms import form_fields
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, ManagerViewer, Viewer, WriteViewer

router = APIRouter(include_in_schema=False)

NOTICES = {
    "set": "The monthly budget was saved.",
    "cleared": "The monthly budget was removed: spend is no longer capped.",
}
MAX_SHOWN = 20
GROUP_LABELS = {
    "month": "Month",
    "provider": "Provider",
    "experiment": "Experiment",
    "purpose": "Purpose",
}


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


def _query(request: Request) -> tuple[str, str, str]:
    params = request.query_params
    # Shown again in the form when refused: a month is 7 characters, junk is cut short.
    return (
        params.get("from", "")[:MAX_SHOWN],
        params.get("to", "")[:MAX_SHOWN],
        params.get("by", "month")[:MAX_SHOWN],
    )


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    *,
    status_code: int = 200,
    amount: str | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    errors = dict(errors or {})
    now = utcnow()
    from_text, to_text, by = _query(request)
    group: GroupBy = by if by in GROUPS else "month"
    if by not in GROUPS:
        errors["by"] = "Choose month, provider, experiment or purpose."
    try:
        first, last = costs.month_range(from_text or None, to_text or None, now=now)
    except InvalidMonths as refused:
        errors["months"] = _sentence(refused.message)
        first = last = month_of(now)
    report = await costs.cost_report(
        session, viewer.workspace_id, from_month=first, to_month=last, group_by=group
    )
    status = await budget_settings.budget_status(
        session, viewer.workspace_id, now=now, settings=state.settings
    )
    if status_code == 200 and ("months" in errors or "by" in errors):
        status_code = 422
    context: dict[str, Any] = {
        "status": status,
        "out": status.out(),
        "report": report,
        "from_month": from_text or first,
        "to_month": to_text or last,
        "by": group,
        "groups": GROUP_LABELS,
        "no_experiment": str(NO_EXPERIMENT),
        "csv_url": f"/costs.csv?from={first}&to={last}&by={group}",
        "amount": amount if amount is not None else (status.out().monthly_usd or ""),
        "errors": errors,
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "usd_text": usd_text,
        "max_months": costs.MAX_MONTHS,
    }
    return render(request, "billing/costs.html", status_code=status_code, viewer=viewer, **context)


@router.get("/costs")
async def costs_page(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    return await _page(request, viewer, session, state)


@router.get("/costs.csv")
async def costs_csv(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    """The report the page shows, as the API's CSV; a bad query gets the page and its
    error instead."""
    from_text, to_text, by = _query(request)
    if by not in GROUPS:
        return await _page(request, viewer, session, state)
    try:
        report = await costs.report_of(
            session,
            viewer.workspace_id,
            from_month=from_text or None,
            to_month=to_text or None,
            group_by=by,
            now=utcnow(),
        )
    except InvalidMonths:
        return await _page(request, viewer, session, state)
    return StreamingResponse(
        costs.csv_rows(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{costs.csv_filename(report)}"'},
    )


@router.post("/costs/budget")
async def set_budget(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    amount = (await form_fields(request)).get("monthly_usd", "")
    try:
        monthly = budget_settings.parse_amount(amount)
    except InvalidBudget as refused:
        errors = {"monthly_usd": _sentence(refused.message)}
        return await _page(
            request, viewer, session, state, status_code=422, amount=amount, errors=errors
        )
    await budget_settings.set_workspace_budget(
        session, viewer.workspace_id, monthly, actor=viewer.actor
    )
    return see_other(request, "/costs?done=set")


@router.post("/costs/budget/clear")
async def clear_budget(request: Request, viewer: ManagerViewer, session: SessionDep) -> Response:
    await budget_settings.clear_workspace_budget(session, viewer.workspace_id, actor=viewer.actor)
    return see_other(request, "/costs?done=cleared")


# --- an experiment's own cap ------------------------------------------------------------


async def _cap_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    experiment_id: uuid.UUID,
    *,
    status_code: int = 200,
    amount: str | None = None,
    error: str | None = None,
) -> Response:
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=0
    )
    current = None if experiment.budget_usd is None else usd_text(experiment.budget_usd)
    return render(
        request,
        "billing/experiment_budget.html",
        status_code=status_code,
        viewer=viewer,
        experiment=experiment,
        current=current,
        cap_amount=amount if amount is not None else (current or ""),
        cap_errors={"monthly_usd": error} if error else {},
    )


@router.get("/experiments/{experiment_id}/budget")
async def experiment_budget_page(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    return await _cap_page(request, viewer, session, experiment_id)


@router.post("/experiments/{experiment_id}/budget")
async def set_experiment_budget(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    """Set the cap (``monthly_usd``), or clear it (``clear`` sent, or an empty amount)."""
    form = await form_fields(request)
    amount = form.get("monthly_usd", "").strip()
    monthly = None
    if "clear" not in form and amount:
        try:
            monthly = budget_settings.parse_amount(amount)
        except InvalidBudget as refused:
            return await _cap_page(
                request,
                viewer,
                session,
                experiment_id,
                status_code=422,
                amount=amount,
                error=_sentence(refused.message),
            )
    await budget_settings.set_experiment_budget(
        session, viewer.workspace_id, experiment_id, monthly, actor=viewer.actor
    )
    return see_other(request, f"/experiments/{experiment_id}")
