"""The alert-rule form: the one way pages take a rule (an experiment's Alerts page and the
workspace's Settings → Alerts), read, validated with the API's ``AlertRuleIn`` and saved
through the same use cases as ``/v1/alerts``; what went wrong said beside its field, what
was typed kept.

A new webhook's signing secret is shown once, on the page the form redirects to
(:mod:`echo_ai.web.reveal`, kind :data:`SECRET_KIND`): reloading that page sends nothing
again and shows the secret no more.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.alerts import service as alerts
from echo_ai.alerts.models import AlertRule
from echo_ai.alerts.schemas import AlertRuleIn
from echo_ai.analysis.significance import Metric
from echo_ai.api.state import ServiceState
from echo_ai.credentials.vault import Vault
from echo_ai.errors import AppError
from echo_ai.security.outbound import UnsafeURL
from echo_ai.web.forms import FORM_ERROR, form_fields, form_lists, validate
from echo_ai.web.rendering import see_other
from echo_ai.web.reveal import reveal_once, take_revealed
from echo_ai.web.viewer import Viewer

METRIC_LABELS = [(str(metric), metric.label) for metric in Metric]
SECRET_KIND = "webhook-secret"


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
    async def from_request(cls, request: Request, *, workspace_wide: bool | None) -> RuleFields:
        """The submitted form. ``workspace_wide``: None on an experiment's page (its
        checkbox says; the experiment's brands are ticked, one ``brands`` value each);
        True on the workspace's page (the brands are typed in one field, separated by
        commas)."""
        form = await form_fields(request)
        lists = await form_lists(request, "metrics", "brands")
        brands = lists["brands"]
        if workspace_wide:
            brands = [name.strip() for typed in brands for name in typed.split(",")]
        return cls(
            name=form.get("name", ""),
            metrics=lists["metrics"],
            brands=[name for name in brands if name],
            providers=form.get("providers", ""),
            min_effect_points=form.get("min_effect_points", ""),
            compare_with=form.get("compare_with", "previous"),
            level=form.get("level", ""),
            email_to=form.get("email_to", ""),
            webhook_url=form.get("webhook_url", ""),
            webhook_format=form.get("webhook_format", "signed"),
            enabled="enabled" in form,
            workspace_wide="workspace_wide" in form if workspace_wide is None else workspace_wide,
        )

    def document(self, experiment_id: uuid.UUID | None) -> dict[str, Any]:
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


@dataclass(frozen=True)
class Refused:
    """The form to show again: what was typed, the errors by field, the status."""

    values: RuleFields
    errors: dict[str, str]
    status_code: int


@dataclass(frozen=True)
class Saved:
    rule: AlertRule
    secret: str | None
    """The new webhook's signing secret (to reveal once), if one was made."""


def refused(values: RuleFields, problem: dict[str, str] | AppError) -> Refused:
    """The one mapping of what went wrong to the form: validation errors by form field
    (``email_to.1`` → ``email_to``), an unsafe webhook URL beside its field, any other
    refusal of the use case above the form with its status."""
    if isinstance(problem, AppError):
        where = "webhook_url" if isinstance(problem, UnsafeURL) else FORM_ERROR
        return Refused(values, {where: problem.message}, problem.status_code)
    errors: dict[str, str] = {}
    for key, message in problem.items():
        errors.setdefault(key.split(".")[0] if key != FORM_ERROR else key, message)
    return Refused(values, errors, 422)


async def submit(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    state: ServiceState,
    *,
    rule: AlertRule | None,
    experiment_id: uuid.UUID | None,
    workspace_wide: bool | None = None,
) -> Saved | Refused:
    """Create a rule (``rule`` None) or replace ``rule`` from the submitted form."""
    values = await RuleFields.from_request(request, workspace_wide=workspace_wide)
    checked = validate(AlertRuleIn, values.document(experiment_id))
    if isinstance(checked, dict):
        return refused(values, checked)
    vault = Vault(state.keys)
    try:
        if rule is None:
            saved, secret = await alerts.create(
                session,
                viewer.workspace_id,
                checked,
                actor=viewer.actor,
                settings=state.settings,
                vault=vault,
            )
        else:
            saved, secret = await alerts.replace(
                session,
                viewer.workspace_id,
                rule.id,
                checked,
                actor=viewer.actor,
                settings=state.settings,
                vault=vault,
            )
    except AppError as problem:
        return refused(values, problem)
    return Saved(saved, secret)


def saved_redirect(
    request: Request, viewer: Viewer, state: ServiceState, saved: Saved, path: str
) -> Response:
    """Post/Redirect/Get to ``path``, carrying the new webhook secret (if any) for that
    page to show once."""
    response = see_other(request, path)
    if saved.secret is not None:
        reveal_once(
            response,
            keys=state.keys,
            settings=state.settings,
            user_id=viewer.user.id,
            path=path,
            kind=SECRET_KIND,
            secret=saved.secret,
        )
    return response


def revealed_secret(request: Request, viewer: Viewer, state: ServiceState) -> str | None:
    """The webhook secret a redirect brought to this page (see :func:`saved_redirect`)."""
    return take_revealed(request, keys=state.keys, user_id=viewer.user.id, kind=SECRET_KIND)
