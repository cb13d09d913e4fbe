"""Exposition: the text a scrape gets, and the separate metrics HTTP server.

With ``PROMETHEUS_MULTIPROC_DIR`` set (Celery's prefork children, several uvicorn
workers), every process writes its samples there and the exposition merges them with
``prometheus_client.multiprocess.MultiProcessCollector``; the directory must be emptied
before the processes start (the client's documented rule).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from echo_ai.config import Settings
from echo_ai.observability.metrics import REGISTRY, SCRAPE_TIME_COLLECTOR

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def exposition_registry() -> CollectorRegistry:
    """:data:`REGISTRY`, or a merge of every process's files in multiprocess mode."""
    directory = os.environ.get(MULTIPROCESS_ENV)
    if not directory:
        return REGISTRY
    merged = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
    merged.register(SCRAPE_TIME_COLLECTOR)
    return merged


def render_latest() -> bytes:
    """The Prometheus text format of every metric (blocking: may ask Redis the queue depth)."""
    return generate_latest(exposition_registry())


@dataclass
class MetricsServer:
    host: str
    port: int
    """The bound port (the real one when 0 was asked for)."""
    _server: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        global _running
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        with _lock:
            if _running is self:
                _running = None


_running: MetricsServer | None = None
_lock = threading.Lock()


def running_metrics_server() -> MetricsServer | None:
    """The server :func:`start_metrics_server` started in this process, if still running."""
    return _running


def start_metrics_server(settings: Settings) -> MetricsServer | None:
    """Serve ``/metrics`` (unauthenticated) on ``metrics_host:metrics_port`` in a thread.

    ``None`` when no ``metrics_port`` is configured. One per process: a second call
    returns the running server. Binding errors (port in use) raise ``OSError``. Keep
    ``metrics_host`` on a private interface: this port has no token.
    """
    global _running
    observability = settings.observability
    if observability.metrics_port is None:
        return None
    with _lock:
        if _running is not None:
            return _running
        server, thread = start_http_server(
            observability.metrics_port,
            addr=observability.metrics_host,
            registry=exposition_registry(),
        )
        _running = MetricsServer(
            host=observability.metrics_host,
            port=int(server.server_port),
            _server=server,
            _thread=thread,
        )
        return _running
