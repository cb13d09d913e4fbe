"""Alert rules of a workspace: create, list, read, replace, delete (audited in the actor's
name; the callers let only owners and admins do it), and the alerts they fired with their
deliveries.

A rule's webhook gets a signing secret when it is created (or when a webhook is added to a
rule that had none): returned once, stored encrypted with the provider keys' vault. Its URL
must reach a public address unless ``alerts.allow_private_webhook_urls`` (SSRF), checked
here and again before each try.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.alerts.models import Alert, AlertDelivery, AlertRule, DeliveryAttempt
from echo_ai.alerts.schemas import AlertRuleIn
from echo_ai.alerts.signing import new_secret
from echo_ai.config import Settings
from echo_ai.credentials.vault import Unreadable, Vault
from echo_ai.errors import Conflict, NotFound
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.runs.models import Experiment
from echo_ai.security.outbound import VettedURL, check_base_url, vet_url

MAX_RULES = 100
"""Rules per workspace."""

ALLOW_PRIVATE = "ECHO_AI_ALERTS__ALLOW_PRIVATE_WEBHOOK_URLS"


async def checked_url(url: str, settings: Settings) -> str:
    """``url`` if webhooks may be sent there (:class:`~echo_ai.security.outbound.UnsafeURL`,
    a 422 saying why, if not)."""
    return await check_base_url(
        url,
        allow_private=settings.alerts.allow_private_webhook_urls,
        what="webhook URL",
        allowed_by=ALLOW_PRIVATE,
    )


async def vetted_url(url: str, settings: Settings) -> VettedURL:
    """``url`` checked as :func:`checked_url` does, with the address to send to (each
    delivery: :mod:`echo_ai.alerts.delivery`)."""
    return await vet_url(
        url,
        allow_private=settings.alerts.allow_private_webhook_urls,
        what="webhook URL",
        allowed_by=ALLOW_PRIVATE,
    )


async def _experiment_of(
    session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID
) -> Experiment:
    experiment = await session.scalar(
        select(Experiment).where(
            Experiment.id == experiment_id, Experiment.workspace_id == workspace_id
        )
    )
    if experiment is None:
        raise NotFound("no such experiment in this workspace")
    return experiment


async def _apply(
    session: AsyncSession,
    rule: AlertRule,
    data: AlertRuleIn,
    *,
    settings: Settings,
    vault: Vault,
) -> str | None:
    """Set the rule from ``data``; the new webhook secret, when one was made."""
    if data.experiment_id is not None:
        await _experiment_of(session, rule.workspace_id, data.experiment_id)
    url = await checked_url(data.webhook_url, settings) if data.webhook_url else None
    rule.name = data.name
    rule.experiment_id = data.experiment_id
    rule.metrics = [str(metric) for metric in data.metrics]
    rule.brands = list(data.brands)
    rule.providers = list(data.providers)
    rule.min_effect_points = data.min_effect_points
    rule.compare_with = data.compare_with
    rule.level = data.level
    rule.email_to = list(data.email_to)
    rule.webhook_format = data.webhook_format
    rule.enabled = data.enabled
    secret = None
    if url is None:
        rule.webhook_secret = None
    elif rule.webhook_secret is None:
        secret = new_secret()
        rule.webhook_secret = vault.encrypt(secret)
    rule.webhook_url = url
    return secret


async def _audited(
    session: AsyncSession, action: Action, rule: AlertRule, *, actor: Actor
) -> AlertRule:
    await audit.record_about(
        session,
        action,
        rule,
        target_type="alert_rule",
        actor=actor,
        details={
            "name": rule.name,
            "experiment_id": str(rule.experiment_id) if rule.experiment_id else None,
        },
    )
    return rule


async def create(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: AlertRuleIn,
    *,
    actor: Actor,
    settings: Settings,
    vault: Vault,
) -> tuple[AlertRule, str | None]:
    """A new rule and its webhook's secret (None without a webhook), shown this once."""
    count = await session.scalar(
        select(func.count()).select_from(AlertRule).where(AlertRule.workspace_id == workspace_id)
    )
    if (count or 0) >= MAX_RULES:
        raise Conflict(f"a workspace has at most {MAX_RULES} alert rules")
    rule = AlertRule(workspace_id=workspace_id)
    secret = await _apply(session, rule, data, settings=settings, vault=vault)
    session.add(rule)
    await session.flush()
    await _audited(session, Action.ALERT_RULE_CREATED, rule, actor=actor)
    return rule, secret


async def get(session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID) -> AlertRule:
    rule = await session.scalar(
        select(AlertRule).where(AlertRule.id == rule_id, AlertRule.workspace_id == workspace_id)
    )
    if rule is None:
        raise NotFound("no such alert rule")
    return rule


async def list_rules(
    session: AsyncSession, workspace_id: uuid.UUID, *, experiment_id: uuid.UUID | None = None
) -> list[AlertRule]:
    """The workspace's rules, newest first (with ``experiment_id``: those that watch it,
    its own and the workspace-wide ones)."""
    query = select(AlertRule).where(AlertRule.workspace_id == workspace_id)
    if experiment_id is not None:
        query = query.where(
            (AlertRule.experiment_id == experiment_id) | AlertRule.experiment_id.is_(None)
        )
    return list(
        await session.scalars(query.order_by(AlertRule.created_at.desc(), AlertRule.id.desc()))
    )


async def replace(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rule_id: uuid.UUID,
    data: AlertRuleIn,
    *,
    actor: Actor,
    settings: Settings,
    vault: Vault,
) -> tuple[AlertRule, str | None]:
    """The rule changed to ``data``: its webhook keeps its secret, a new webhook gets one."""
    rule = await get(session, workspace_id, rule_id)
    secret = await _apply(session, rule, data, settings=settings, vault=vault)
    await session.flush()
    await _audited(session, Action.ALERT_RULE_REPLACED, rule, actor=actor)
    return rule, secret


async def delete(
    session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID, *, actor: Actor
) -> None:
    """The rule and the alerts it fired (with their deliveries) deleted."""
    rule = await get(session, workspace_id, rule_id)
    await session.delete(rule)
    await session.flush()
    await _audited(session, Action.ALERT_RULE_DELETED, rule, actor=actor)


@dataclass(frozen=True)
class RuleInWorkspace:
    """A rule of the workspace, with the name of the experiment it watches (None: every
    experiment)."""

    rule: AlertRule
    experiment_name: str | None


async def rules_of_workspace(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[RuleInWorkspace]:
    """Every rule of the workspace (workspace-wide and each experiment's), workspace-wide
    ones first, then by experiment, newest first (one query)."""
    rows = await session.execute(
        select(AlertRule, Experiment.name)
        .outerjoin(Experiment, Experiment.id == AlertRule.experiment_id)
        .where(AlertRule.workspace_id == workspace_id)
        .order_by(
            AlertRule.experiment_id.is_not(None),
            Experiment.name,
            AlertRule.created_at.desc(),
            AlertRule.id.desc(),
        )
    )
    return [RuleInWorkspace(rule, name) for rule, name in rows]


@dataclass(frozen=True)
class RecentDelivery:
    """A delivery of an alert of the workspace, with what it was about."""

    delivery: AlertDelivery
    rule_name: str
    experiment_id: uuid.UUID
    experiment_name: str
    round: int
    synthetic: bool


async def recent_deliveries(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int = 50
) -> list[RecentDelivery]:
    """The workspace's newest alert deliveries (every channel), newest first (one query)."""
    rows = await session.execute(
        select(AlertDelivery, AlertRule.name, Experiment.id, Experiment.name, Alert.round)
        .add_columns(Alert.synthetic)
        .join(Alert, Alert.id == AlertDelivery.alert_id)
        .join(AlertRule, AlertRule.id == Alert.rule_id)
        .join(Experiment, Experiment.id == Alert.experiment_id)
        .where(Alert.workspace_id == workspace_id)
        .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc())
        .limit(limit)
    )
    return [
        RecentDelivery(delivery, rule_name, experiment_id, experiment_name, round_, synthetic)
        for delivery, rule_name, experiment_id, experiment_name, round_, synthetic in rows
    ]


AlertWithDeliveries = tuple[Alert, list[tuple[AlertDelivery, list[DeliveryAttempt]]]]


async def list_alerts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    experiment_id: uuid.UUID | None = None,
    limit: int = 50,
) -> list[AlertWithDeliveries]:
    """The newest alerts fired in the workspace (of one experiment), with their deliveries
    and each delivery's log (three queries)."""
    query = select(Alert).where(Alert.workspace_id == workspace_id)
    if experiment_id is not None:
        query = query.where(Alert.experiment_id == experiment_id)
    alerts = list(
        await session.scalars(query.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit))
    )
    return await _with_deliveries(session, alerts)


async def _with_deliveries(
    session: AsyncSession, alerts: Sequence[Alert]
) -> list[AlertWithDeliveries]:
    if not alerts:
        return []
    deliveries = list(
        await session.scalars(
            select(AlertDelivery)
            .where(AlertDelivery.alert_id.in_([alert.id for alert in alerts]))
            .order_by(AlertDelivery.created_at, AlertDelivery.channel, AlertDelivery.target)
        )
    )
    attempts: dict[uuid.UUID, list[DeliveryAttempt]] = {}
    if deliveries:
        for row in await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(DeliveryAttempt.attempt)
        ):
            attempts.setdefault(row.delivery_id, []).append(row)
    by_alert: dict[uuid.UUID, list[tuple[AlertDelivery, list[DeliveryAttempt]]]] = {}
    for delivery in deliveries:
        by_alert.setdefault(delivery.alert_id, []).append((delivery, attempts.get(delivery.id, [])))
    return [(alert, by_alert.get(alert.id, [])) for alert in alerts]


async def rotate_secrets(
    session: AsyncSession, vault: Vault, *, batch_size: int = 500
) -> tuple[int, list[uuid.UUID]]:
    """Encrypt every webhook's signing secret again under the current secret key (with the
    provider keys: ``echo-ai provider-keys rotate``); how many were, and the rules whose
    secret no configured secret key decrypts (left as they are: give them a new webhook)."""
    rotated = 0
    unreadable: list[uuid.UUID] = []
    last: uuid.UUID | None = None
    while True:
        query = (
            select(AlertRule)
            .where(AlertRule.webhook_secret.is_not(None))
            .order_by(AlertRule.id)
            .limit(batch_size)
        )
        if last is not None:
            query = query.where(AlertRule.id > last)
        rules = list(await session.scalars(query))
        if not rules:
            return rotated, unreadable
        for rule in rules:
            assert rule.webhook_secret is not None
            try:
                rule.webhook_secret = vault.rotate(rule.webhook_secret)
            except Unreadable:
                unreadable.append(rule.id)
                continue
            rotated += 1
        await session.flush()
        last = rules[-1].id
