"""The Celery application of production mode: broker settings chosen for no lost work.

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a chunk is acknowledged only
  when it has ended, so a worker killed mid-chunk leaves it to be delivered again.
- ``worker_prefetch_multiplier=1``: a busy worker does not hoard chunks others could run.
- the broker's visibility timeout is longer than the hard time limit of a chunk, so a
  chunk still running is never handed to a second worker; the soft limit (enforced by the
  task itself) is above the longest single call (see :class:`echo_ai.config.Settings`).
- results are not stored: the database is where results live.

The background jobs a request leaves (sending queued mail, preparing a data export:
:mod:`echo_ai.execution.background`) have a queue of their own, :data:`BACKGROUND_QUEUE`,
that every worker also takes from: a password-reset mail does not wait behind the chunks of
a large experiment, and the chunk queue's length stays the executor's queue depth. They
run with the same settings (acknowledged late, delivered again when their worker died).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging

from echo_ai.config import Settings
from echo_ai.observability import CELERY_QUEUE

QUEUE = CELERY_QUEUE
"""The one queue of chunk tasks (its length is the executor's queue depth)."""

BACKGROUND_QUEUE = "echo-ai-background"
"""The queue of background jobs (mail, exports)."""

RUN_CHUNK = "echo_ai.run_chunk"
DELIVER_MAIL = "echo_ai.deliver_mail"
PREPARE_EXPORT = "echo_ai.prepare_export"
EVALUATE_ALERTS = "echo_ai.evaluate_alerts"
JUDGE_SENTIMENT = "echo_ai.judge_sentiment"

celery_app = Celery(
    "echo_ai",
    include=[
        "echo_ai.execution.tasks",
        "echo_ai.accounts.tasks",
        "echo_ai.alerts.tasks",
        "echo_ai.experiments.tasks",
    ],
)
"""The tasks: chunks and mail in :mod:`echo_ai.execution.tasks`; exports in
:mod:`echo_ai.accounts.tasks`, alert evaluation in :mod:`echo_ai.alerts.tasks`, sentiment
judgings in :mod:`echo_ai.experiments.tasks` (the layers
that may import what they run)."""


def _keep_our_logging(**_: object) -> None:
    """Connected to ``setup_logging``: Celery leaves the logging that ``echo-ai worker``
    configured (JSON lines through structlog) as it is."""


setup_logging.connect(_keep_our_logging, weak=False)


def configure(settings: Settings, app: Celery = celery_app) -> Celery:
    """Point the app at the settings' Redis broker (idempotent)."""
    worker = settings.worker
    conf: dict[str, Any] = {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": worker.visibility_timeout_seconds},
        "task_default_queue": QUEUE,
        "task_routes": {
            DELIVER_MAIL: {"queue": BACKGROUND_QUEUE},
            PREPARE_EXPORT: {"queue": BACKGROUND_QUEUE},
            EVALUATE_ALERTS: {"queue": BACKGROUND_QUEUE},
            JUDGE_SENTIMENT: {"queue": BACKGROUND_QUEUE},
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "task_time_limit": worker.chunk_time_limit_seconds,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        "enable_utc": True,
    }
    app.conf.update(conf)
    return app
