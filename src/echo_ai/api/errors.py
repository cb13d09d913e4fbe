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
from pydantic import BaseModel, Field
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


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, machine-readable error code, e.g. `not_found`.")
    message: str = Field(description="Human-readable explanation.")
    details: Any = Field(
        description="Extra structured data (e.g. the invalid fields of a 422), or `null`."
    )


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


_STRING_HEADER = {"schema": {"type": "string"}}
_SECONDS_HEADER = {"schema": {"type": "integer", "minimum": 0}}
_ERROR_DOCS: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Bad request: a body that is not UTF-8 JSON, a cursor this API did not return...",
        {},
    ),
    401: (
        "Missing, invalid or expired credentials",
        {"WWW-Authenticate": {"description": "`Bearer`", **_STRING_HEADER}},
    ),
    402: (
        "A quota of the workspace's plan (`quota_exceeded`) or its budget "
        "(`budget_exhausted`) does not allow this now: `details` name the `limit`, the `plan` "
        "(for a quota), its `limit_value`, the `usage` and what was `requested`",
        {},
    ),
    403: (
        "The caller's role or key scope does not allow this; or the workspace's plan does not "
        "include a provider asked for (`plan_forbids_provider`: `details` name the `limit`, "
        "the `plan`, its `limit_value`, the `usage` and what was `requested`)",
        {},
    ),
    404: ("Not found (also: a workspace the caller is not a member of)", {}),
    409: ("Conflicts with the current state of the resource", {}),
    410: ("Gone: an expired link (`export_expired`: ask for a new export)", {}),
    413: ("Request body too large (`details.max_bytes` is the limit)", {}),
    422: ("Request validation failed (`details` lists the fields, at most 50)", {}),
    429: (
        "Too many requests: retry after `Retry-After` seconds",
        {
            "Retry-After": {"required": True, "description": "Seconds to wait", **_SECONDS_HEADER},
            "X-RateLimit-Limit": {"description": "Requests allowed per window", **_SECONDS_HEADER},
            "X-RateLimit-Remaining": {"description": "Requests left (0)", **_SECONDS_HEADER},
            "X-RateLimit-Reset": {"description": "Seconds until a slot frees", **_SECONDS_HEADER},
        },
    ),
    502: ("An upstream service (Stripe) refused or failed the call: `details.stripe_status`", {}),
    503: (
        "A dependency is unavailable: retry after `Retry-After` seconds",
        {"Retry-After": {"required": True, "description": "Seconds to wait", **_SECONDS_HEADER}},
    ),
}


def error_responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for these error statuses, all with the :class:`ErrorResponse`
    body, so that the documented schema lists the errors an operation really returns::

        router = APIRouter(responses=error_responses(401, 403, 404, 422))
        @router.post("/x", responses=error_responses(409, 429))

    Route-level entries add to (and override) the router's.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for status_code in status_codes:
        description, headers = _ERROR_DOCS[status_code]
        entry: dict[str, Any] = {"model": ErrorResponse, "description": description}
        if headers:
            entry["headers"] = headers
        responses[status_code] = entry
    return responses


BODY_ERRORS = (400, 413, 422)
"""What a route with a JSON body may answer before it runs: an unparsable body (400), one
over the size limit (413), one that fails validation (422)."""

AUTH_ERRORS = (401, 403, 404, 429)
"""What an authenticated route may answer before it runs: no or bad credentials (401), a
role or key scope too weak (403), an ``X-Workspace-ID`` the caller is not a member of
(404), the workspace's request rate or the address's credential guesses used up (429)."""


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


def refusal_kept(refused: AppError) -> JSONResponse:
    """The answer to a refused confirmation (wrong password or 2FA code: 401/403),
    returned instead of raised so that the request's transaction commits what the use
    case recorded of the failure (its audit event); any other error is raised again."""
    if refused.status_code not in (401, 403):
        raise refused
    return error_response(
        refused.status_code, refused.code, refused.message, getattr(refused, "details", None)
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
