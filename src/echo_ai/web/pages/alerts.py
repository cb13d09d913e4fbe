"""An experiment's Alerts page: the rules that watch it (its own and the workspace-wide
ones), a form to create or edit one (owners and admins), delete, and the alerts fired with
each delivery's log. The same use cases as ``/v1/alerts``; a new webhook's signing secret is
shown once, on the page that answers the form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response

from echo_ai.alerts import service as alerts
from echo_ai.alerts.evaluation import change_line
from echo_ai.alerts.models import AlertRule
from echo_ai.alerts.schemas import AlertOut, AlertRuleIn, AlertRuleOut
from echo_ai.analysis.significance import Metric
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.credentials.vault import Vault
from echo_ai.errors import AppError
from echo_ai.experiments import service as experiments
from echo_ai.runs.models import Experiment
from echo_ai.web.forms import FORM_ERROR, form_fields, form_lists, validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, ManagerViewer, Viewer

router = APIRouter(include_in_schema=False)

METRIC_LABELS = [(str(metric), metric.label) for metric in Metric]


@dataclass
class RuleFields:
    """The form's values as typed (shown again with the errors)."""

    name: str = ""
    metrics: list[str] = field(default_factory=lambda: ["visibility"])
    brands: list[str] = field(default_factory=list)
    providers: str = ""
    min_effect_points: str = "5"
    compare_with: str = "previous"
    level: str = "0.05"
    email_to: str = ""
    webhook_url: str = ""
    webhook_format: str = "signed"
    enabled: bool = True
    workspace_wide: bool = False

    @classmethod
    def of(cls, rule: AlertRule) -> RuleFields:
        return cls(
            name=rule.name,
            metrics=list(rule.metrics),
            brands=list(rule.brands),
            providers=", ".join(rule.providers),
            min_effect_points=f"{rule.min_effect_points:g}",
            compare_with=str(rule.compare_with),
            level=f"{rule.level:g}",
            email_to=", ".join(rule.email_to),
            webhook_url=rule.webhook_url or "",
            webhook_format=str(rule.webhook_format),
            enabled=rule.enabled,
            workspace_wide=rule.experiment_id is None,
        )

    @classmethod
    async def from_request(cls, request: Request) -> RuleFields:
        form = await form_fields(request)
        lists = await form_lists(request, "metrics", "brands")
        return cls(
            name=form.get("name", ""),
            metrics=lists["metrics"],
            brands=lists["brands"],
            providers=form.get("providers", ""),
            min_effect_points=form.get("min_effect_points", ""),
            compare_with=form.get("compare_with", "previous"),
            level=form.get("level", ""),
            email_to=form.get("email_to", ""),
            webhook_url=form.get("webhook_url", ""),
            webhook_format=form.get("webhook_format", "signed"),
            enabled="enabled" in form,
            workspace_wide="workspace_wide" in form,
        )

    def document(self, experiment_id: uuid.UUID) -> dict[str, Any]:
        return {
            "name": self.name,
            "experiment_id": None if self.workspace_wide else experiment_id,
            "metrics": self.metrics,
            "brands": self.brands,
            "providers": _split(self.providers),
            "min_effect_points": _number(self.min_effect_points),
            "compare_with": self.compare_with,
            "level": _number(self.level),
            "email_to": _split(self.email_to),
            "webhook_url": self.webhook_url.strip() or None,
            "webhook_format": self.webhook_format,
            "enabled": self.enabled,
        }


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text) if part]


def _number(text: str) -> float | str:
    try:
        return float(text.strip())
    except ValueError:
        return text


def _field_errors(errors: dict[str, str]) -> dict[str, str]:
    """Errors by form field (``email_to.1`` → ``email_to``)."""
    found: dict[str, str] = {}
    for key, message in errors.items():
        found.setdefault(key.split(".")[0] if key != FORM_ERROR else key, message)
    return found


def _brand_names(experiment: Experiment) -> list[str]:
    brands = experiment.brands
    return [brands["target"]["name"], *(c["name"] for c in brands.get("competitors", []))]


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    experiment: Experiment,
    *,
    values: RuleFields | None = None,
    errors: dict[str, str] | None = None,
    editing: AlertRule | None = None,
    secret: str | None = None,
    status_code: int = 200,
) -> Response:
    rules = await alerts.list_rules(session, viewer.workspace_id, experiment_id=experiment.id)
    fired = await alerts.list_alerts(session, viewer.workspace_id, experiment_id=experiment.id)
    return render(
        request,
        "experiments/alerts.html",
        status_code=status_code,
        viewer=viewer,
        experiment=experiment,
        rules=[AlertRuleOut.of(rule) for rule in rules],
        alerts=[AlertOut.of(alert, deliveries) for alert, deliveries in fired],
        change_line=change_line,
        values=values or RuleFields(),
        errors=errors or {},
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
    request: Request, experiment_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    experiment = await _experiment(session, viewer, experiment_id)
    return await _page(request, viewer, session, experiment)


async def _save(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    experiment: Experiment,
    rule: AlertRule | None,
) -> Response:
    values = await RuleFields.from_request(request)
    checked = validate(AlertRuleIn, values.document(experiment.id))
    if isinstance(checked, dict):
        return await _page(
            request,
            viewer,
            session,
            experiment,
            values=values,
            errors=_field_errors(checked),
            editing=rule,
            status_code=422,
        )
    vault = Vault(state.keys)
    try:
        if rule is None:
            _saved, secret = await alerts.create(
                session,
                viewer.workspace_id,
                checked,
                actor=viewer.actor,
                settings=state.settings,
                vault=vault,
            )
        else:
            _saved, secret = await alerts.replace(
                session,
                viewer.workspace_id,
                rule.id,
                checked,
                actor=viewer.actor,
                settings=state.settings,
                vault=vault,
            )
    except AppError as refused:
        where = "webhook_url" if refused.code == "unsafe_base_url" else FORM_ERROR
        return await _page(
            request,
            viewer,
            session,
            experiment,
            values=values,
            errors={where: refused.message},
            editing=rule,
            status_code=refused.status_code,
        )
    if secret is None:
        return see_other(request, _base(experiment.id))
    # The secret is shown once, here: no redirect to a page that could show it again.
    return await _page(request, viewer, session, experiment, secret=secret, editing=None)


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
