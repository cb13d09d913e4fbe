"""What the alert routes take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, field_validator

from echo_ai.alerts.models import (
    Alert,
    AlertDelivery,
    AlertRule,
    Channel,
    CompareWith,
    DeliveryAttempt,
    DeliveryStatus,
    WebhookFormat,
)
from echo_ai.analysis.significance import Metric
from echo_ai.auth.schemas import Email
from echo_ai.experiments.schemas import SYNTHETIC_NOTICE
from echo_ai.text import SingleLine

Label = Annotated[str, SingleLine(min_length=1, max_length=200)]


class AlertRuleIn(BaseModel):
    """An alert rule: what it watches, how big a change must be, where it says so."""

    model_config = ConfigDict(extra="forbid")

    name: Label
    experiment_id: uuid.UUID | None = Field(
        default=None, description="The experiment watched; none: every experiment of the workspace."
    )
    metrics: list[Metric] = Field(
        default_factory=lambda: [Metric.VISIBILITY], min_length=1, max_length=len(Metric)
    )
    brands: list[Label] = Field(
        default_factory=list,
        max_length=50,
        description="Brands whose mention rates are watched (empty: every brand).",
    )
    providers: list[Label] = Field(
        default_factory=list,
        max_length=50,
        description="`vendor:model` labels, or `all` for the providers pooled (empty: every one).",
    )
    min_effect_points: Annotated[StrictFloat, Field(ge=0, le=100)] = Field(
        default=0.0, description="The smallest change that alerts, in points."
    )
    compare_with: CompareWith = CompareWith.PREVIOUS
    level: Annotated[StrictFloat, Field(ge=0.001, le=0.5)] = Field(
        default=0.05, description="The false discovery rate the rule's tests are controlled at."
    )
    email_to: list[Email] = Field(default_factory=list, max_length=10)
    webhook_url: Annotated[str, SingleLine(max_length=500)] | None = Field(
        default=None,
        description="An https (or http) URL on a public address; the requests are signed.",
    )
    webhook_format: WebhookFormat = WebhookFormat.SIGNED
    enabled: StrictBool = True

    @field_validator("metrics", "brands", "providers", "email_to")
    @classmethod
    def _no_repeats(cls, values: list[Any]) -> list[Any]:
        return list(dict.fromkeys(values))

    @field_validator("webhook_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class AlertRuleOut(BaseModel):
    id: uuid.UUID
    name: str
    experiment_id: uuid.UUID | None
    metrics: list[Metric]
    brands: list[str]
    providers: list[str]
    min_effect_points: float
    compare_with: CompareWith
    level: float
    email_to: list[str]
    webhook_url: str | None
    webhook_format: WebhookFormat
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, rule: AlertRule) -> AlertRuleOut:
        return cls(
            id=rule.id,
            name=rule.name,
            experiment_id=rule.experiment_id,
            metrics=[Metric(name) for name in rule.metrics],
            brands=list(rule.brands),
            providers=list(rule.providers),
            min_effect_points=rule.min_effect_points,
            compare_with=rule.compare_with,
            level=rule.level,
            email_to=list(rule.email_to),
            webhook_url=rule.webhook_url,
            webhook_format=rule.webhook_format,
            enabled=rule.enabled,
            created_at=rule.created_at,
            updated_at=rule.updated_at,
        )


class AlertRuleCreated(AlertRuleOut):
    webhook_secret: str | None = Field(
        description=(
            "The webhook's signing secret, shown this once (none without a webhook): keep it"
            " to verify the requests (docs/alerts.md)."
        )
    )


class ChangeOut(BaseModel):
    label: str
    metric: Metric
    provider: str | None = Field(description="None: every provider pooled.")
    brand: str | None
    before: float | None
    after: float | None
    points: float | None = Field(description="after − before, in points.")
    p_value: float | None
    q_value: float | None
    synthetic: bool


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    retry_at: datetime | None

    @classmethod
    def of(cls, row: DeliveryAttempt) -> AttemptOut:
        return cls(
            attempt=row.attempt,
            at=row.at,
            status_code=row.status_code,
            error=row.error,
            retry_at=row.retry_at,
        )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    channel: Channel
    target: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    finished_at: datetime | None
    log: list[AttemptOut]

    @classmethod
    def of(cls, row: AlertDelivery, log: list[DeliveryAttempt]) -> DeliveryOut:
        return cls(
            id=row.id,
            channel=row.channel,
            target=row.target,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if row.status is DeliveryStatus.PENDING else None,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            finished_at=row.finished_at,
            log=[AttemptOut.of(item) for item in log],
        )


class AlertOut(BaseModel):
    id: uuid.UUID
    rule_id: uuid.UUID
    experiment_id: uuid.UUID
    round: int
    compared_with: list[int]
    tested: int = Field(description="Figures the rule tested together (one FDR family each kind).")
    changes: list[ChangeOut]
    synthetic: bool
    synthetic_notice: str | None
    created_at: datetime
    deliveries: list[DeliveryOut]

    @classmethod
    def of(
        cls, alert: Alert, deliveries: list[tuple[AlertDelivery, list[DeliveryAttempt]]]
    ) -> AlertOut:
        return cls(
            id=alert.id,
            rule_id=alert.rule_id,
            experiment_id=alert.experiment_id,
            round=alert.round,
            compared_with=list(alert.compared_with),
            tested=alert.tested,
            changes=[ChangeOut.model_validate(change) for change in alert.changes],
            synthetic=alert.synthetic,
            synthetic_notice=SYNTHETIC_NOTICE if alert.synthetic else None,
            created_at=alert.created_at,
            deliveries=[DeliveryOut.of(row, log) for row, log in deliveries],
        )
