"""The FastAPI application factory: lifespan, middleware, error handlers, routers.

``create_app()`` builds the app; its lifespan loads the secret keys (refusing weak
ones), opens the runtime (database, providers, executor) and keeps everything in
``app.state.service`` (:class:`~echo_ai.api.state.ServiceState`), the rate limiter in
``app.state.rate_limiter`` and the sign-in throttle in ``app.state.sign_in_throttle``.
Routers are registered in :func:`routers`, the web pages by
:func:`echo_ai.web.install_web`; the docs page and its vendored Swagger UI
come from :mod:`echo_ai.api.docs`.

Observability: Sentry and OpenTelemetry are set up when the app is created (before its
middleware stack is built), logging when it starts (after uvicorn configured its own, which
it replaces); the lifespan also reports the database pool and executor queue to the
metrics and, with ``metrics_port``, runs the separate metrics server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, FastAPI

from echo_ai.aio import startup_objects_frozen
from echo_ai.api.docs import OPENAPI_URL, docs_router
from echo_ai.api.errors import install_error_handlers
from echo_ai.api.middleware import install_middleware
from echo_ai.api.state import build_state
from echo_ai.config import Settings, get_settings
from echo_ai.execution.runtime import open_runtime
from echo_ai.observability import configure_logging, configure_tracing, watch_process
from echo_ai.observability.router import metrics_router
from echo_ai.observability.server import (
    MetricsServer,
    running_metrics_server,
    start_metrics_server,
)
from echo_ai.observability.tracing import Tracing
from echo_ai.security.keys import load_key_ring
from echo_ai.security.rate_limit import RateLimiter
from echo_ai.security.sign_in_throttle import SignInThrottle
from echo_ai.web import install_web
from echo_ai.web.errors import middleware_error

log = logging.getLogger(__name__)

TITLE = "Echo AI"
DESCRIPTION = (
    "AI-search visibility analytics: how often AI assistants mention a brand, "
    'with confidence intervals. Errors are always `{"error": {"code", "message", '
    '"details"}}`.'
)


class StartupError(RuntimeError):
    """The service refuses to start (e.g. a weak secret key); the message says why."""


def _version() -> str:
    try:
        return version("echo-ai")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def routers() -> list[APIRouter]:
    """Every router the service serves. Add a domain's router here, imported inside the
    function so that importing :mod:`echo_ai.app` stays cheap and cycle-free."""
    from echo_ai.api import health
    from echo_ai.api.routers.account import router as account_router
    from echo_ai.api.routers.account_email import router as account_email_router
    from echo_ai.api.routers.account_security import router as account_security_router
    from echo_ai.api.routers.alerts import router as alerts_router
    from echo_ai.api.routers.api_keys import router as api_keys_router
    from echo_ai.api.routers.audit import router as audit_router
    from echo_ai.api.routers.auth import router as auth_router
    from echo_ai.api.routers.billing import router as billing_router
    from echo_ai.api.routers.brands import router as brands_router
    from echo_ai.api.routers.costs import router as costs_router
    from echo_ai.api.routers.experiments import router as experiments_router
    from echo_ai.api.routers.planning import router as planning_router
    from echo_ai.api.routers.privacy import router as privacy_router
    from echo_ai.api.routers.provider_keys import router as provider_keys_router
    from echo_ai.api.routers.schedules import router as schedules_router
    from echo_ai.api.routers.trackers import router as trackers_router
    from echo_ai.api.routers.usage import router as usage_router
    from echo_ai.api.routers.workspaces import router as workspaces_router

    return [
        health.router,
        auth_router,
        api_keys_router,
        workspaces_router,
        brands_router,
        experiments_router,
        trackers_router,
        planning_router,
        schedules_router,
        alerts_router,
        audit_router,
        usage_router,
        billing_router,
        provider_keys_router,
        costs_router,
        privacy_router,
        account_router,
        account_security_router,
        account_email_router,
    ]


@asynccontextmanager
async def _lifespan_for(settings: Settings, app: FastAPI) -> AsyncIterator[None]:
    restore_logging = configure_logging(settings)
    try:
        async with _serving(settings, app):
            with startup_objects_frozen():
                yield
    finally:
        restore_logging()


@asynccontextmanager
async def _serving(settings: Settings, app: FastAPI) -> AsyncIterator[None]:
    # Keys first: a weak secret stops the start before the database is touched.
    try:
        keys = load_key_ring(settings)
    except (ValueError, PermissionError) as error:
        raise StartupError(f"refusing to start: {error}") from error
    limiter = RateLimiter(settings.redis_url)
    throttle = SignInThrottle.open(settings.redis_url, limiter)
    async with open_runtime(settings, keys=keys) as runtime:
        state = build_state(settings, runtime, keys)
        app.state.service = state
        app.state.rate_limiter = limiter
        app.state.sign_in_throttle = throttle
        unwatch = watch_process(
            settings, engine=runtime.engine, local_queue=lambda: len(state.background)
        )
        started_server = _metrics_port(settings)
        state.start_scheduler()
        state.start_mail_jobs()
        try:
            yield
        finally:
            await app.state.service.stop_background()
            del app.state.service
            await throttle.aclose()
            unwatch()
            if started_server is not None:
                started_server.close()
            tracing: Tracing | None = getattr(app.state, "tracing", None)
            if tracing is not None:
                tracing.flush()


def _metrics_port(settings: Settings) -> MetricsServer | None:
    """Open the separate metrics port, unless this process already serves it. With
    several API processes (``echo-ai api --workers N``) the first one to bind it serves
    the merged metrics of all (``PROMETHEUS_MULTIPROC_DIR``); the others go on without."""
    if running_metrics_server() is not None:
        return None
    try:
        return start_metrics_server(settings)
    except OSError as error:
        log.warning("metrics port not opened here (%s): another process serves it", error)
        return None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _lifespan_for(settings, app):
            yield

    app = FastAPI(
        title=TITLE,
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
    )

    # Before the routes are added: Sentry's FastAPI integration wraps route handlers.
    app.state.tracing = configure_tracing(settings, app)
    install_error_handlers(app)
    install_web(app)
    install_middleware(app, settings, answer=middleware_error)
    app.include_router(docs_router(f"{TITLE} - API docs"))
    for router in routers():
        app.include_router(router)
    if settings.observability.metrics_token:
        app.include_router(metrics_router(settings.observability.metrics_token))
    return app
