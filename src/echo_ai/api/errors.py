"""One JSON shape for every error: ``{"error": {"code", "message", "details"}}``.

Domain errors (:class:`~echo_ai.errors.AppError` subclasses) keep their status and code;
an ``AppError`` may carry ``headers`` (e.g. ``Retry-After`` on a 429) and ``details``.
Anything unexpected is a 500 whose body says nothing about the cause: the traceback goes
to the log only, tagged with the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from echo_ai.errors import AppError

log = logging.getLogger("echo_ai.api")

INTERNAL_ERROR_CODE = "internal_error"
INTERNAL_ERROR_MESSAGE = "internal error"
MAX_VALIDATION_ERRORS = 50
"""Details listed on a 422; a huge invalid payload does not make a huge error body."""

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: INTERNAL_ERROR_CODE,
    503: "unavailable",
}
_HTTP_MESSAGES = {
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, details), status_code=status_code, headers=headers
    )


def internal_error_response() -> JSONResponse:
    return error_response(500, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE)


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


async def app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers: Mapping[str, str] | None = getattr(exc, "headers", None)
    return error_response(
        exc.status_code,
        exc.code,
        exc.message,
        getattr(exc, "details", None),
        headers=dict(headers) if headers else None,
    )


def _field(loc: Any) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    # Field and message only: echoing the submitted value back would reflect whatever the
    # client sent (possibly huge, possibly a secret typed in the wrong field).
    details = [
        {
            "field": _field(item.get("loc", ())),
            "location": str(item["loc"][0]) if item.get("loc") else None,
            "message": str(item.get("msg", "invalid")).removeprefix("Value error, "),
            "type": str(item.get("type", "invalid")),
        }
        for item in errors[:MAX_VALIDATION_ERRORS]
    ]
    message = "request validation failed"
    if len(errors) > MAX_VALIDATION_ERRORS:
        message += f" ({len(errors)} errors, first {MAX_VALIDATION_ERRORS} listed)"
    return error_response(422, "validation_error", message, details)


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "error" if status < 500 else INTERNAL_ERROR_CODE)
    message = exc.detail if isinstance(exc.detail, str) else None
    if not message or status in _HTTP_MESSAGES:
        message = _HTTP_MESSAGES.get(status, code.replace("_", " "))
    return error_response(status, code, message, headers=dict(exc.headers or {}) or None)


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log_unhandled(exc, request_id=_request_id(request), path=request.url.path)
    return internal_error_response()


def log_unhandled(exc: BaseException, *, request_id: str, path: str) -> None:
    log.error(
        "unhandled error (request %s, %s)",
        request_id,
        path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    # Reached only if something fails outside the catch-all middleware (which gives
    # the same body with the usual headers); Starlette then re-raises to the server.
    app.add_exception_handler(Exception, unhandled_error_handler)
