"""An experiment's Alerts page: the rules that watch it (its own and the workspace-wide
ones), a form to create or edit one (owners and admins), delete, and the alerts fired with
each delivery's log. The same use cases as ``/v1/alerts`` (the form:
:mod:`echo_ai.web.alert_form`); a new webhook's signing secret is shown once, on the page
the form redirects to."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from echo_ai.alerts import service as alerts
from echo_ai.alerts.evaluation import change_line
from echo_ai.alerts.models import AlertRule
from echo_ai.alerts.schemas import AlertOut, AlertRuleOut
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.experiments import service as experiments
from echo_ai.runs.models import Experiment
from echo_ai.web.alert_form import (
    METRIC_LABELS,
    Refused,
    RuleFields,
    revealed_secret,
    saved_redirect,
    submit,
)
from echo_ai.web.rendering import render, see_other
from echo_ai.web.reveal import forget_revealed
from echo_ai.web.viewer import CurrentViewer, ManagerViewer, Viewer

router = APIRouter(include_in_schema=False)


def _brand_names(experiment: Experiment) -> list[str]:
    brands = experiment.brands
    return [brands["target"]["name"], *(c["name"] for c in brands.get("competitors", []))]


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    experiment: Experiment,
    *,
    form: Refused | None = None,
    values: RuleFields | None = None,
    editing: AlertRule | None = None,
    secret: str | None = None,
) -> Response:
    rules = await alerts.list_rules(session, viewer.workspace_id, experiment_id=experiment.id)
    fired = await alerts.list_alerts(session, viewer.workspace_id, experiment_id=experiment.id)
    return render(
        request,
        "experiments/alerts.html",
        status_code=form.status_code if form else 200,
        viewer=viewer,
        experiment=experiment,
        rules=[AlertRuleOut.of(rule) for rule in rules],
        alerts=[AlertOut.of(alert, deliveries) for alert, deliveries in fired],
        change_line=change_line,
        values=form.values if form else values or RuleFields(),
        errors=form.errors if form else {},
        editing=editing,
        secret=secret,
        metric_labels=METRIC_LABELS,
        brand_names=_brand_names(experiment),
    )


async def _experiment(session: SessionDep, viewer: Viewer, experiment_id: uuid.UUID) -> Experiment:
    return await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id, runs=0)


def _base(experiment_id: uuid.UUID) -> str:
    return f"/experiments/{experiment_id}/alerts"


@router.get("/experiments/{experiment_id}/alerts")
async def alerts_page(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    experiment = await _experiment(session, viewer, experiment_id)
    secret = revealed_secret(request, viewer, state)
    response = await _page(request, viewer, session, experiment, secret=secret)
    return forget_revealed(request, response, path=_base(experiment_id), settings=state.settings)


async def _save(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    experiment: Experiment,
    rule: AlertRule | None,
) -> Response:
    outcome = await submit(request, viewer, session, state, rule=rule, experiment_id=experiment.id)
    if isinstance(outcome, Refused):
        return await _page(request, viewer, session, experiment, form=outcome, editing=rule)
    return saved_redirect(request, viewer, state, outcome, _base(experiment.id))


@router.post("/experiments/{experiment_id}/alerts")
async def create_rule(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: ManagerViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    experiment = await _experiment(session, viewer, experiment_id)
    return await _save(request, viewer, session, state, experiment, None)


@router.get("/experiments/{experiment_id}/alerts/{rule_id}/edit")
async def edit_page(
    request: Request,
    experiment_id: uuid.UUID,
    rule_id: uuid.UUID,
    viewer: ManagerViewer,
    session: SessionDep,
) -> Response:
    experiment = await _experiment(session, viewer, experiment_id)
    rule = await alerts.get(session, viewer.workspace_id, rule_id)
    return await _page(
        request, viewer, session, experiment, values=RuleFields.of(rule), editing=rule
    )


@router.post("/experiments/{experiment_id}/alerts/{rule_id}")
async def replace_rule(
    request: Request,
    experiment_id: uuid.UUID,
    rule_id: uuid.UUID,
    viewer: ManagerViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    experiment = await _experiment(session, viewer, experiment_id)
    rule = await alerts.get(session, viewer.workspace_id, rule_id)
    return await _save(request, viewer, session, state, experiment, rule)


@router.post("/experiments/{experiment_id}/alerts/{rule_id}/delete")
async def delete_rule(
    request: Request,
    experiment_id: uuid.UUID,
    rule_id: uuid.UUID,
    viewer: ManagerViewer,
    session: SessionDep,
) -> Response:
    await _experiment(session, viewer, experiment_id)
    await alerts.delete(session, viewer.workspace_id, rule_id, actor=viewer.actor)
    return see_other(request, _base(experiment_id))
