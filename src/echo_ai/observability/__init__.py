"""Observability: structured logs, Prometheus metrics, optional Sentry and OpenTelemetry.

- :mod:`.logs`: :func:`configure_logging`, and the ids every log line carries
  (:func:`bind_context`, :func:`bound_context`, :func:`log_context`).
- :mod:`.metrics`: the metrics and the ``record_*`` functions; :data:`CELERY_QUEUE`.
- :mod:`.middleware`: the HTTP latency middleware; :mod:`.router`: ``/metrics`` behind a token;
  :mod:`.server`: the separate metrics port (:func:`start_metrics_server`).
- :mod:`.tracing`: :func:`configure_tracing` (Sentry, OpenTelemetry).

Importing this package is cheap and imports nothing of the API, so any layer may use it.
"""

from echo_ai.observability.logs import (
    bind_context,
    bound_context,
    configure_logging,
    log_context,
)
from echo_ai.observability.metrics import (
    CELERY_QUEUE,
    CELERY_QUEUE_LISTS,
    record_experiment_created,
    record_iteration,
    record_quota_refusal,
    watch_process,
)
from echo_ai.observability.server import start_metrics_server
from echo_ai.observability.tracing import configure_tracing

__all__ = [
    "CELERY_QUEUE",
    "CELERY_QUEUE_LISTS",
    "bind_context",
    "bound_context",
    "configure_logging",
    "configure_tracing",
    "log_context",
    "record_experiment_created",
    "record_iteration",
    "record_quota_refusal",
    "start_metrics_server",
    "watch_process",
]
