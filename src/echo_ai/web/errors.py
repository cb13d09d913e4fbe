"""Friendly error pages in the product's look, with the request id, for browsers.

A request is answered with a page instead of the JSON error body when it is not for the
API (not under the API's, docs' or static files' paths) and its ``Accept`` asks for HTML,
as a browser's navigation does. The JSON handlers of :mod:`echo_ai.api.errors` answer
everything else, unchanged. Validation errors of the pages' own forms are not errors
here: each page renders its form again with the message beside the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from echo_ai.api import errors as api_errors
from echo_ai.errors import AppError
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import ConsentPending, SignInRequired

API_PREFIXES = ("/v1/", "/auth/", "/health", "/openapi.json", "/docs", "/metrics", "/static/")

TITLES = {
    400: "That request could not be understood",
    403: "You cannot do that here",
    404: "Page not found",
    405: "That is not something this page does",
    409: "That changed in the meantime",
    413: "That was too large",
    422: "Some of that was not valid",
    429: "Too many requests",
    500: "Something went wrong on our side",
    503: "Temporarily unavailable",
}

FRIENDLY = {
    404: "There is nothing at this address.",
    413: "That was more than this form accepts. Shorten what you entered and try again.",
}
"""What a page says for errors whose technical message means nothing to a reader."""
FRIENDLY_CODES = {
    "csrf_failed": "This form has expired or was sent from another site: go back, reload "
    "the page and try again.",
}

Handler = Callable[[Request, Exception], Awaitable[Response]]


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not an API client, not an asset)."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


ACTIONS = {"two_factor_required": ("/settings/security", "Turn on two-factor authentication")}
"""A way out of the error, for the codes that have one: (link, label)."""


def error_page(
    request: Request,
    status_code: int,
    message: str,
    headers: dict[str, str] | None = None,
    action: tuple[str, str] | None = None,
) -> Response:
    return render(
        request,
        "error.html",
        status_code=status_code,
        headers=headers,
        status=status_code,
        title=TITLES.get(status_code, "Something went wrong"),
        message=message,
        action=action,
    )


def internal_error_page(request: Request) -> Response:
    return error_page(
        request,
        500,
        "The error was logged. If it keeps happening, tell us the request id below.",
    )


def _paged(json_handler: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if not wants_html(request):
            return await json_handler(request, exc)
        if isinstance(exc, AppError):
            headers = dict(getattr(exc, "headers", {}) or {})
            message = exc.message
            if exc.code in FRIENDLY_CODES:
                message = f"{FRIENDLY_CODES[exc.code]} ({exc.message})"
            return error_page(
                request, exc.status_code, message, headers or None, ACTIONS.get(exc.code)
            )
        if isinstance(exc, StarletteHTTPException):
            return error_page(
                request,
                exc.status_code,
                "There is nothing at this address." if exc.status_code == 404 else str(exc.detail),
                dict(exc.headers or {}) or None,
            )
        return error_page(request, 400, "The request was not valid.")

    return handler


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired | ConsentPending)
    return see_other(request, exc.location)


def install_error_pages(app: FastAPI) -> None:
    """Over the JSON handlers (installed first): pages for browsers, JSON for the rest."""
    app.add_exception_handler(AppError, _paged(api_errors.app_error_handler))
    app.add_exception_handler(StarletteHTTPException, _paged(api_errors.http_exception_handler))
    app.add_exception_handler(RequestValidationError, _paged(api_errors.validation_error_handler))
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(ConsentPending, _sign_in_required)


def middleware_error(
    request: Request, status_code: int, code: str, message: str, details: Any
) -> Response:
    """The middleware's own errors (413, a bad ``Content-Length``, an unhandled failure's
    500): a page for browsers, the JSON body else (and if even the page fails)."""
    if wants_html(request):
        try:
            if status_code == 500:
                return internal_error_page(request)
            return error_page(request, status_code, FRIENDLY.get(status_code, message))
        except Exception:  # noqa: S110 - already failing; the plain answer is the fallback
            pass
    return api_errors.error_response(status_code, code, message, details)
