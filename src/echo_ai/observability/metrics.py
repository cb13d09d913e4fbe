"""Prometheus metrics in our own registry, :data:`REGISTRY` (not the client's global one).

Recorded as things happen: HTTP latency (:mod:`echo_ai.observability.middleware`), experiments
created, iterations and LLM calls, quota refusals. Collected at scrape time: the executor's
queue depth and the database pool use of the engines a process registered with
:func:`watch_process`.

Names (all without a prefix)::

    http_request_duration_seconds{method,route,status}   histogram
    experiments_created_total                            counter
    iterations_total{provider,model,outcome}             counter (outcome: success | class | error)
    llm_request_duration_seconds{provider,model}         histogram
    llm_cost_usd_total{provider,model}                   counter
    quota_refusals_total{limit}                          counter (the rate limit's name)
    retention_rows_total{data_class}                     counter (rows redacted or deleted)
    retention_passes_total                               counter (daily retention passes)
    executor_queue_depth                                 gauge
    db_pool_checked_out, db_pool_size                    gauges (QueuePool engines only)

plus the client's ``process_*`` and ``python_*`` metrics (not in multiprocess mode, where
the merged files hold only the metrics above).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from echo_ai.config import Settings

log = logging.getLogger(__name__)

CELERY_QUEUE = "echo-ai"
"""The Celery queue batch chunks go to; its Redis list length is ``executor_queue_depth``."""
_CELERY_PRIORITY_SEPARATOR = "\x06\x16"
_CELERY_PRIORITY_STEPS = (3, 6, 9)
"""Kombu's Redis transport keeps priorities other than 0 in lists named queue+sep+step."""
CELERY_QUEUE_LISTS = (
    CELERY_QUEUE,
    *(f"{CELERY_QUEUE}{_CELERY_PRIORITY_SEPARATOR}{step}" for step in _CELERY_PRIORITY_STEPS),
)
"""The Redis lists that hold the messages waiting in :data:`CELERY_QUEUE` (all priorities)."""

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency, by route template (unmatched: no route) and status.",
    ["method", "route", "status"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
EXPERIMENTS_CREATED = Counter("experiments_created", "Experiments created.", registry=REGISTRY)
ITERATIONS = Counter(
    "iterations",
    "Iterations run, by outcome: success, the class of an answer that is not a sample, "
    "or the provider error code.",
    ["provider", "model", "outcome"],
    registry=REGISTRY,
)
LLM_REQUEST_DURATION = Histogram(
    "llm_request_duration_seconds",
    "Latency of answered LLM calls, as the provider adapter measured it.",
    ["provider", "model"],
    buckets=_LLM_BUCKETS,
    registry=REGISTRY,
)
LLM_COST = Counter(
    "llm_cost_usd",
    "Estimated cost of LLM calls in USD (list prices; see providers/pricing.py).",
    ["provider", "model"],
    registry=REGISTRY,
)
QUOTA_REFUSALS = Counter(
    "quota_refusals",
    "Requests refused by a rate limit or quota, by the limit's name.",
    ["limit"],
    registry=REGISTRY,
)

BUDGET_ALERTS = Counter(
    "budget_alerts",
    "Budget alerts raised: a workspace's month cost reached the alert share of its budget.",
    registry=REGISTRY,
)


RETENTION_ROWS = Counter(
    "retention_rows",
    "Rows the retention task redacted or deleted, by data class (answers_redacted, "
    "error_texts_cleared, audit_events_deleted, mails_deleted, outbox_files_deleted, "
    "sessions_deleted, user_tokens_deleted, accounts_purged, exports_expired).",
    ["data_class"],
    registry=REGISTRY,
)
RETENTION_PASSES = Counter("retention_passes", "Retention passes completed.", registry=REGISTRY)


def record_retention(data_class: str, rows: int) -> None:
    """Count rows one retention pass redacted or deleted in ``data_class``."""
    RETENTION_ROWS.labels(data_class=data_class).inc(rows)


def record_retention_pass() -> None:
    """Count one completed retention pass."""
    RETENTION_PASSES.inc()


def record_budget_alert() -> None:
    """Count one budget alert raised (once per workspace and month)."""
    BUDGET_ALERTS.inc()


def record_experiment_created(count: int = 1) -> None:
    """Count experiments created; call after the creating transaction committed."""
    EXPERIMENTS_CREATED.inc(count)


def record_iteration(
    provider: str,
    model: str,
    outcome: str,
    latency_seconds: float | None,
    cost_usd: Decimal | float | None,
) -> None:
    """Count one finished iteration; ``outcome`` is ``"success"`` (a complete answer),
    the class of an answer that is not a sample, or the error code.

    ``latency_seconds`` (when an answer came back) feeds the LLM latency histogram and
    ``cost_usd`` (when known) the cost counter; ``None`` records neither.
    """
    ITERATIONS.labels(provider=provider, model=model, outcome=outcome).inc()
    if latency_seconds is not None:
        LLM_REQUEST_DURATION.labels(provider=provider, model=model).observe(latency_seconds)
    if cost_usd is not None and cost_usd > 0:
        LLM_COST.labels(provider=provider, model=model).inc(float(cost_usd))


def record_quota_refusal(name: str) -> None:
    """Count a request refused by the rate limit (or quota) called ``name``."""
    QUOTA_REFUSALS.labels(limit=name).inc()


@dataclass(frozen=True)
class _Watched:
    engine: AsyncEngine | None
    queue_depth: Callable[[], int] | None


_watched: dict[int, _Watched] = {}
_watch_ids = itertools.count()
_watch_lock = threading.Lock()


def celery_queue_depth(redis_url: str) -> Callable[[], int]:
    """Messages waiting in :data:`CELERY_QUEUE` on the Redis broker (all priorities)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def depth() -> int:
        pipeline = client.pipeline(transaction=False)
        for name in CELERY_QUEUE_LISTS:
            pipeline.llen(name)
        return sum(int(length) for length in pipeline.execute())

    return depth


def watch_process(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    local_queue: Callable[[], int] | None = None,
) -> Callable[[], None]:
    """Report this process's engine pool and queue depth at scrape time; returns the undo.

    The queue depth is the Redis length of :data:`CELERY_QUEUE` when the executor is
    ``celery``, else ``local_queue()`` (the API passes its count of in-process batch
    tasks); without either it is not reported. Several watched engines are summed.
    """
    depth = local_queue
    if settings.executor == "celery" and settings.redis_url:
        depth = celery_queue_depth(settings.redis_url)
    with _watch_lock:
        key = next(_watch_ids)
        _watched[key] = _Watched(engine=engine, queue_depth=depth)

    def unwatch() -> None:
        with _watch_lock:
            _watched.pop(key, None)

    return unwatch


class ScrapeTimeCollector(Collector):
    """Queue depth and pool use of the watched processes, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        with _watch_lock:
            watched = list(_watched.values())
        depths = [w.queue_depth for w in watched if w.queue_depth is not None]
        if depths:
            total = 0
            try:
                total = sum(depth() for depth in depths)
            except Exception:  # a broker that does not answer must not fail the scrape
                log.warning("could not read the executor queue depth", exc_info=True)
            else:
                yield GaugeMetricFamily(
                    "executor_queue_depth",
                    "Batch work waiting: Celery messages queued, or in-process batch tasks.",
                    value=total,
                )
        pools = [
            w.engine.sync_engine.pool
            for w in watched
            if w.engine is not None and isinstance(w.engine.sync_engine.pool, QueuePool)
        ]
        if pools:
            checked_out = sum(pool.checkedout() for pool in pools if isinstance(pool, QueuePool))
            size = sum(pool.size() for pool in pools if isinstance(pool, QueuePool))
            yield GaugeMetricFamily(
                "db_pool_checked_out", "Database connections in use.", value=checked_out
            )
            yield GaugeMetricFamily(
                "db_pool_size", "Database pool size (without overflow).", value=size
            )

    def describe(self) -> Iterator[Metric]:
        return iter(())


SCRAPE_TIME_COLLECTOR = ScrapeTimeCollector()
REGISTRY.register(SCRAPE_TIME_COLLECTOR)
