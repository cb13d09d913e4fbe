"""The Celery task that evaluates the alert rules on a run in production mode (sent by the
worker that finalised one of its batches, on the background queue). Here rather than in
:mod:`echo_ai.execution.tasks`, since the execution layer may not import the alerts; the
worker loads it through the Celery app's ``include``."""

from __future__ import annotations

import uuid

from echo_ai.alerts.jobs import after_batch
from echo_ai.execution.celery_app import EVALUATE_ALERTS, celery_app
from echo_ai.execution.tasks import worker_runtime


def evaluate_alerts_task(batch_run_id: str) -> None:
    """Evaluate the batch's run if that completed it, then send the webhooks due
    (:func:`echo_ai.alerts.jobs.after_batch`). Idempotent: a run is evaluated once (its
    evaluation row is unique), so a re-delivery does nothing more; a failure is left to
    the scheduler's tick, which evaluates complete runs that nobody did."""
    worker = worker_runtime()
    worker.run(
        after_batch(worker.runtime.session_factory, uuid.UUID(batch_run_id), worker.settings)
    )


evaluate_alerts = celery_app.task(name=EVALUATE_ALERTS)(evaluate_alerts_task)
