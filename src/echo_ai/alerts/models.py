"""Alert rules, the runs they were evaluated on, the alerts they fired and their deliveries."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, JSONType, Timestamps, UTCDateTime, UUIDPrimaryKey, str_enum, utcnow


class CompareWith(enum.StrEnum):
    PREVIOUS = "previous"
    """The previous complete run."""
    BASELINE = "baseline"
    """The complete runs among the previous ``BASELINE_RUNS``, their counts pooled."""


class WebhookFormat(enum.StrEnum):
    SIGNED = "signed"
    """Echo AI's JSON, signed with HMAC-SHA256 (docs/alerts.md)."""
    SLACK = "slack"
    """Slack's incoming-webhook JSON (``text`` and ``blocks``), signed the same way."""


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    """Waiting for its (next) try at ``next_attempt_at``."""
    SENT = "sent"
    """The receiver answered 2xx."""
    FAILED = "failed"
    """Given up: a refusal (4xx other than 408/429, a redirect, an unsafe URL), or
    ``alerts.webhook_max_attempts`` tries."""
    MAILED = "mailed"
    """An e-mail handed to the mail queue, which sends and retries it (``echo-ai outbox``)."""


class Channel(enum.StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class AlertRule(UUIDPrimaryKey, Timestamps, Base):
    """What to watch (metrics, brands, providers, a minimum effect) in one experiment, or
    in every experiment of the workspace (``experiment_id`` NULL), and where to say it."""

    __tablename__ = "alert_rules"
    __table_args__ = (Index("ix_alert_rules_workspace", "workspace_id", "created_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(200))
    metrics: Mapped[list[str]] = mapped_column(JSONType)
    """:class:`echo_ai.analysis.significance.Metric` values."""
    brands: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """Brands whose mention rates are watched (empty: every brand)."""
    providers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """``vendor:model`` labels, ``all`` for the providers pooled (empty: every one)."""
    min_effect_points: Mapped[float] = mapped_column(Float, default=0.0)
    compare_with: Mapped[CompareWith] = mapped_column(
        str_enum(CompareWith), default=CompareWith.PREVIOUS
    )
    level: Mapped[float] = mapped_column(Float, default=0.05)
    """The false discovery rate the rule's tests are controlled at."""
    email_to: Mapped[list[str]] = mapped_column(JSONType, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    webhook_format: Mapped[WebhookFormat] = mapped_column(
        str_enum(WebhookFormat), default=WebhookFormat.SIGNED
    )
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The signing secret, encrypted (:class:`echo_ai.credentials.vault.Vault`)."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class AlertEvaluation(UUIDPrimaryKey, Base):
    """A run whose alerts were evaluated: inserted once (unique), so of two processes that
    see the run complete at once only one evaluates it."""

    __tablename__ = "alert_evaluations"
    __table_args__ = (UniqueConstraint("experiment_id", "round"),)

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    round: Mapped[int] = mapped_column(Integer)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    fired: Mapped[int] = mapped_column(Integer, default=0)


class Alert(UUIDPrimaryKey, Base):
    """An alert a rule fired on a run: the significant changes it found."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule_id", "experiment_id", "round"),
        Index("ix_alerts_workspace_created", "workspace_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    round: Mapped[int] = mapped_column(Integer)
    compared_with: Mapped[list[int]] = mapped_column(JSONType)
    """The runs compared with (one, or the baseline's)."""
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    tested: Mapped[int] = mapped_column(Integer)
    """How many figures the rule tested together (its false discovery rate family)."""
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertDelivery(UUIDPrimaryKey, Base):
    """One alert to one channel (a webhook URL or an e-mail address)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_status_next", "status", "next_attempt_at"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    target: Mapped[str] = mapped_column(String(500))
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeliveryAttempt(UUIDPrimaryKey, Base):
    """The delivery log: one row per try of a webhook delivery."""

    __tablename__ = "alert_delivery_attempts"
    __table_args__ = (Index("ix_alert_delivery_attempts_delivery", "delivery_id", "attempt"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
