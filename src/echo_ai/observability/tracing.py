"""Optional error reporting (Sentry) and tracing (OpenTelemetry over OTLP/HTTP).

Both are off unless configured, and a missing setting is never an error:

- Sentry when ``ECHO_AI_OBSERVABILITY__SENTRY_DSN`` or ``SENTRY_DSN`` (or ``SENTRY_DSN_FILE``)
  is set; sentry-sdk enables its FastAPI, Starlette, Celery, SQLAlchemy, Redis and logging
  integrations by itself when those libraries are installed. Error events only (no
  performance tracing, no personal data).
- OpenTelemetry when ``ECHO_AI_OBSERVABILITY__OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: the collector's base URL
  (``http://collector:4318``), to which ``/v1/traces`` is added; a URL that already ends
  in ``/v1/traces`` is used as it is. Spans are batched; the FastAPI app passed in is
  instrumented (``/metrics`` and ``/health`` excluded).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from echo_ai.config import Settings, read_secret

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
EXCLUDED_URLS = "/metrics,/health"
"""Comma-separated URL patterns not traced (scrapes and probes would drown the rest)."""

_providers: dict[tuple[str, str], TracerProvider] = {}


@dataclass(frozen=True)
class Tracing:
    """What :func:`configure_tracing` turned on."""

    sentry: bool
    tracer_provider: TracerProvider | None

    def flush(self, timeout_seconds: float = 5.0) -> None:
        """Send what is buffered (spans, Sentry events); at shutdown, and in tests."""
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush(int(timeout_seconds * 1000))
        if self.sentry:
            import sentry_sdk

            sentry_sdk.flush(timeout=timeout_seconds)


def _release() -> str | None:
    try:
        return f"echo-ai@{version('echo-ai')}"
    except PackageNotFoundError:  # pragma: no cover - a bare checkout
        return None


def _sentry(settings: Settings) -> bool:
    dsn = settings.observability.sentry_dsn or read_secret("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk

    client = sentry_sdk.get_client()
    if not (client.is_active() and client.dsn == dsn):  # init again replaces the client
        sentry_sdk.init(
            dsn=dsn,
            environment=settings.environment,
            release=_release(),
        )
    return True


def _traces_url(settings: Settings) -> str | None:
    endpoint = settings.observability.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint or not endpoint.strip():
        return None
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def _tracer_provider(settings: Settings, url: str) -> TracerProvider:
    """One provider per (service, URL) per process; the first one also becomes the global
    provider, which OpenTelemetry lets be set only once."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    key = (settings.observability.service_name, url)
    provider = _providers.get(key)
    if provider is None:
        resource = Resource.create({"service.name": settings.observability.service_name})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        if not _providers:
            trace.set_tracer_provider(provider)
        _providers[key] = provider
    return provider


def configure_tracing(settings: Settings, app: FastAPI | None = None) -> Tracing:
    """Turn on Sentry and OpenTelemetry as configured; idempotent, and a no-op when
    nothing is configured. Call it before the app serves its first request (the app's
    middleware stack is built then); ``create_app`` does. Workers call it with no app.
    """
    sentry = _sentry(settings)
    url = _traces_url(settings)
    provider = _tracer_provider(settings, url) if url else None
    if provider is not None and app is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS
        )
    if sentry or provider is not None:
        log.info("tracing configured: sentry=%s, otlp=%s", sentry, url)
    return Tracing(sentry=sentry, tracer_provider=provider)
