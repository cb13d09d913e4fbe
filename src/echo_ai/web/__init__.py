"""The web dashboard: server-rendered pages (Jinja2 + htmx + one vendored chart library).

Pages call the same use-case functions as the JSON API (never the API over HTTP) and are
served by the same app. Layout:

- :mod:`.pages` — one router module per area (sign-in, overview, brands, experiments,
  settings); routers stay thin: read the form, call the service, render.
- :mod:`.viewer` — who is looking (browser session, workspace, role, CSRF, time zone).
- :mod:`.forms` — form parsing and errors beside the fields; :mod:`.format` — numbers
  and times for readers; :mod:`.rendering` — the Jinja2 environment.
- :mod:`.assets` — fingerprinted, immutable, precompressed static files;
  :mod:`.errors` — friendly 403/404/500 pages for browsers.
- ``templates/`` and ``static/`` (own CSS and JS; ``static/vendor/`` holds htmx and
  Chart.js, refreshed by ``scripts/vendor.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def page_routers() -> list[APIRouter]:
    """Every page router. Add an area's router here (imported inside, as in
    :func:`echo_ai.app.routers`)."""
    from echo_ai.web.pages.account import router as account_router
    from echo_ai.web.pages.account_security import router as account_security_router
    from echo_ai.web.pages.alert_settings import router as alert_settings_router
    from echo_ai.web.pages.alerts import router as alerts_router
    from echo_ai.web.pages.auth import router as auth_router
    from echo_ai.web.pages.billing import router as billing_router
    from echo_ai.web.pages.brands import router as brands_router
    from echo_ai.web.pages.costs import router as costs_router
    from echo_ai.web.pages.experiment_actions import router as experiment_actions_router
    from echo_ai.web.pages.experiment_form import router as experiment_form_router
    from echo_ai.web.pages.experiment_view import router as experiment_view_router
    from echo_ai.web.pages.invitations import router as invitations_router
    from echo_ai.web.pages.overview import router as overview_router
    from echo_ai.web.pages.privacy_settings import router as privacy_settings_router
    from echo_ai.web.pages.provider_keys import router as provider_keys_router
    from echo_ai.web.pages.recovery import router as recovery_router
    from echo_ai.web.pages.sentiment_judge import router as sentiment_judge_router
    from echo_ai.web.pages.settings import router as settings_router
    from echo_ai.web.pages.trackers import router as trackers_router
    from echo_ai.web.pages.usage import router as usage_router

    return [
        auth_router,
        overview_router,
        brands_router,
        experiment_form_router,
        experiment_view_router,
        experiment_actions_router,
        sentiment_judge_router,
        alerts_router,
        alert_settings_router,
        trackers_router,
        settings_router,
        usage_router,
        billing_router,
        provider_keys_router,
        invitations_router,
        costs_router,
        recovery_router,
        privacy_settings_router,
        account_router,
        account_security_router,
    ]


def install_web(app: FastAPI) -> None:
    """The pages, their assets and the error pages for browsers (after the JSON error
    handlers, which they wrap)."""
    from echo_ai.web.assets import assets_router
    from echo_ai.web.errors import install_error_pages

    install_error_pages(app)
    app.include_router(assets_router())
    for router in page_routers():
        app.include_router(router)
