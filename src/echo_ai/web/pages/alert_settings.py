"""The workspace's Alerts settings (``/settings/alerts``): every alert rule of the
workspace (workspace-wide ones, and each experiment's with a link to its page), a form to
create, edit or delete a workspace-wide rule (owners and admins), and the recent
deliveries of its alerts with their status. The same use cases as ``/v1/alerts``
(the form: :mod:`echo_ai.web.alert_form`); a new webhook's signing secret is shown once,
on the page the form redirects to. An experiment's own rules are changed on its page."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from echo_ai.alerts import service as alerts
from echo_ai.alerts.models import AlertRule
from echo_ai.alerts.schemas import AlertRuleOut
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.experiments.schemas import SYNTHETIC_NOTICE
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

PATH = "/settings/alerts"
RECENT_DELIVERIES = 50


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    *,
    form: Refused | None = None,
    values: RuleFields | None = None,
    editing: AlertRule | None = None,
    secret: str | None = None,
) -> Response:
    rules = await alerts.rules_of_workspace(session, viewer.workspace_id)
    deliveries = await alerts.recent_deliveries(
        session, viewer.workspace_id, limit=RECENT_DELIVERIES
    )
    return render(
        request,
        "settings/alerts.html",
        status_code=form.status_code if form else 200,
        viewer=viewer,
        section="alerts",
        rules=[
            {"rule": AlertRuleOut.of(found.rule), "experiment_name": found.experiment_name}
            for found in rules
        ],
        deliveries=deliveries,
        synthetic_notice=SYNTHETIC_NOTICE,
        values=form.values if form else values or RuleFields(workspace_wide=True),
        errors=form.errors if form else {},
        editing=editing,
        secret=secret,
        metric_labels=METRIC_LABELS,
    )


async def _workspace_rule(session: SessionDep, viewer: Viewer, rule_id: uuid.UUID) -> AlertRule:
    """A rule of the workspace (404 otherwise), workspace-wide or an experiment's."""
    return await alerts.get(session, viewer.workspace_id, rule_id)


def _on_its_experiment(rule: AlertRule, suffix: str) -> str | None:
    """Where an experiment's own rule is changed (None: a workspace-wide rule, here)."""
    if rule.experiment_id is None:
        return None
    return f"/experiments/{rule.experiment_id}/alerts/{rule.id}{suffix}"


@router.get(PATH)
async def alert_settings(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    secret = revealed_secret(request, viewer, state)
    response = await _page(request, viewer, session, secret=secret)
    return forget_revealed(request, response, path=PATH, settings=state.settings)


async def _save(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    rule: AlertRule | None,
) -> Response:
    outcome = await submit(
        request, viewer, session, state, rule=rule, experiment_id=None, workspace_wide=True
    )
    if isinstance(outcome, Refused):
        return await _page(request, viewer, session, form=outcome, editing=rule)
    return saved_redirect(request, viewer, state, outcome, PATH)


@router.post(PATH)
async def create_workspace_rule(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    return await _save(request, viewer, session, state, None)


@router.get(PATH + "/{rule_id}/edit")
async def edit_workspace_rule(
    request: Request, rule_id: uuid.UUID, viewer: ManagerViewer, session: SessionDep
) -> Response:
    rule = await _workspace_rule(session, viewer, rule_id)
    elsewhere = _on_its_experiment(rule, "/edit")
    if elsewhere is not None:
        return see_other(request, elsewhere)
    return await _page(request, viewer, session, values=RuleFields.of(rule), editing=rule)


@router.post(PATH + "/{rule_id}")
async def replace_workspace_rule(
    request: Request,
    rule_id: uuid.UUID,
    viewer: ManagerViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    rule = await _workspace_rule(session, viewer, rule_id)
    elsewhere = _on_its_experiment(rule, "/edit")
    if elsewhere is not None:
        # Its brands are ticked there; this form would make it workspace-wide.
        return see_other(request, elsewhere)
    return await _save(request, viewer, session, state, rule)


@router.post(PATH + "/{rule_id}/delete")
async def delete_workspace_rule(
    request: Request, rule_id: uuid.UUID, viewer: ManagerViewer, session: SessionDep
) -> Response:
    await alerts.delete(session, viewer.workspace_id, rule_id, actor=viewer.actor)
    return see_other(request, PATH)
