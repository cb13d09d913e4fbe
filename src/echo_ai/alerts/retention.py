"""The alerts' data in the retention pass (:mod:`echo_ai.accounts.retention`, which may
not import this layer: the scheduler's daily task and ``echo-ai retention run`` give it
:data:`ALERT_ROWS`).

- Finished deliveries (sent, given up, mailed: not the pending ones, still being tried)
  ``privacy.alert_delivery_retention_days`` after they finished, their delivery logs
  (status codes, error texts) with them; the alert stays.
- Alerts ``privacy.alert_retention_days`` after they fired, with what is left of their
  deliveries; and the record of which runs were evaluated, as old (the scheduler's
  catch-up looks back two days only, so none is evaluated again).

A rule is kept as long as its workspace (or its experiment) is: it is what the workspace
configured, not what happened.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, select

from echo_ai.accounts.retention import ExpiringRows
from echo_ai.alerts.models import Alert, AlertDelivery, AlertEvaluation, DeliveryStatus
from echo_ai.config import Settings


def _finished_deliveries(now: datetime, settings: Settings) -> Select[uuid.UUID]:
    cutoff = now - timedelta(days=settings.privacy.alert_delivery_retention_days)
    return (
        select(AlertDelivery.id)
        .where(
            AlertDelivery.status != DeliveryStatus.PENDING,
            AlertDelivery.finished_at < cutoff,
        )
        .order_by(AlertDelivery.finished_at)
    )


def _old_alerts(now: datetime, settings: Settings) -> Select[uuid.UUID]:
    cutoff = now - timedelta(days=settings.privacy.alert_retention_days)
    return select(Alert.id).where(Alert.created_at < cutoff).order_by(Alert.created_at)


def _old_evaluations(now: datetime, settings: Settings) -> Select[uuid.UUID]:
    cutoff = now - timedelta(days=settings.privacy.alert_retention_days)
    return (
        select(AlertEvaluation.id)
        .where(AlertEvaluation.evaluated_at < cutoff)
        .order_by(AlertEvaluation.evaluated_at)
    )


ALERT_ROWS = (
    ExpiringRows("alert_deliveries_deleted", AlertDelivery, _finished_deliveries),
    ExpiringRows("alerts_deleted", Alert, _old_alerts),
    ExpiringRows("alert_evaluations_deleted", AlertEvaluation, _old_evaluations),
)
"""The alerts' rows the retention pass deletes, in this order (see the module)."""
