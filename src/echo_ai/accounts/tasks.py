"""The Celery task that prepares a data export in production mode (sent by the API after
the request's commit, or again by ``echo-ai beat``: :func:`echo_ai.accounts.export.stalled`).
Here rather than in :mod:`echo_ai.execution.tasks` because the execution layer may not
import the accounts it would run; the worker loads it through the Celery app's
``include``."""

from __future__ import annotations

import uuid
from datetime import timedelta

from echo_ai.accounts import export
from echo_ai.execution.celery_app import PREPARE_EXPORT, celery_app
from echo_ai.execution.tasks import worker_runtime


def prepare_export_task(export_id: str) -> None:
    """Prepare the export (:func:`echo_ai.accounts.export.prepare`, in the worker's
    runtime). Idempotent: an export already ``ready`` or ``failed``, or started by another
    delivery less than ``worker.visibility_timeout_seconds`` ago (longer than the task's
    time limit: that one may still run), is left alone. A worker that dies meanwhile
    leaves the task unacknowledged: delivered again (or dispatched again by the
    scheduler) once that time is over, it prepares the export from the start."""
    worker = worker_runtime()
    settings = worker.settings
    worker.run(
        export.prepare(
            worker.runtime.session_factory,
            uuid.UUID(export_id),
            data_dir=settings.data_dir,
            link_hours=settings.privacy.export_link_hours,
            stale_after=timedelta(seconds=settings.worker.visibility_timeout_seconds),
        )
    )


prepare_export = celery_app.task(name=PREPARE_EXPORT)(prepare_export_task)
