"""Pure ASGI middleware: request id, security headers, body size limit, catch-all 500.

Pure ASGI (not ``BaseHTTPMiddleware``) so request bodies stream through untouched and
nothing is buffered. Order, outermost first (see :func:`install_middleware`)::

    RequestId -> HttpMetrics -> SecurityHeaders -> CORS (when configured) -> BodySizeLimit
    -> CatchAll -> FastAPI's exception handlers -> routes

so every response, including a 413 and a 500, carries the request id and the headers, and
is timed in ``http_request_duration_seconds``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from http.cookies import SimpleCookie
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_ai.api.errors import (
    INTERNAL_ERROR_CODE,
    INTERNAL_ERROR_MESSAGE,
    error_response,
    log_unhandled,
)
from echo_ai.config import Settings
from echo_ai.observability.logs import isolated_context
from echo_ai.observability.middleware import HttpMetricsMiddleware
from echo_ai.security.headers import is_credential_path, security_headers

REQUEST_ID_HEADER = "X-Request-ID"
SESSION_COOKIES = ("echo_session", "__Host-echo_session")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The current request's id, for log records."""


def _state(scope: Scope) -> dict[str, object]:
    state: dict[str, object] = scope.setdefault("state", {})
    return state


class RequestIdMiddleware:
    """Accept a sane incoming ``X-Request-ID`` or make one; echo it on the response.

    A client-chosen id is kept only when it is at most 64 characters of
    ``[A-Za-z0-9_-]``, so it is safe to write into logs and headers. The id is bound in
    the structlog context for the request (every log line carries ``request_id``); what
    the request binds on top (``workspace_id``...) is dropped when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
            request_id = incoming
        else:
            request_id = secrets.token_hex(16)
        _state(scope)["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            with isolated_context(request_id=request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


def is_authenticated_request(headers: Headers) -> bool:
    """A credential was presented (valid or not): the response may be private."""
    if "authorization" in headers:
        return True
    cookie_header = headers.get("cookie")
    if not cookie_header:
        return False
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except Exception:  # a malformed cookie header: be conservative
        return True
    return any(name in cookies for name in SESSION_COOKIES)


class SecurityHeadersMiddleware:
    """Security headers on every response; no ``Server`` banner.

    A header the response already set wins (a page may need its own CSP), except
    ``Cache-Control: no-store`` on private responses (a request that carried a
    credential, or a credential route: see :mod:`echo_ai.security.headers`), which
    always applies: this is the one place that decides it, for every response, error
    responses and 500s included. The one exception is a response that declares itself
    ``public`` (the versioned static assets, the same for everyone): it keeps its caching
    when a signed-in browser asks for it."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = is_authenticated_request(Headers(scope=scope)) or is_credential_path(
            str(scope.get("path", ""))
        )
        extra = security_headers(https=self.https, private=private)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                del headers["server"]
                for name, value in extra.items():
                    if name == "Cache-Control":
                        if not _declares_public(headers.get(name, "")):
                            headers[name] = value
                    else:
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _declares_public(cache_control: str) -> bool:
    """Whether a ``Cache-Control`` value has the ``public`` directive (not merely the
    word somewhere in it)."""
    return "public" in {directive.strip().lower() for directive in cache_control.split(",")}


class RequestBodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    A Starlette ``HTTPException``, so FastAPI's body parsing lets it through to the
    error handlers (which give the 413 in the error shape)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body too large")


ErrorAnswer = Callable[[Request, int, str, str, Any], Response]
"""How the middleware answers an error it raises itself (413, a bad ``Content-Length``, the
500 of an unhandled exception): ``(request, status, code, message, details)``. The default
is the JSON error body; the web pages answer browsers with a page."""


def json_error(request: Request, status: int, code: str, message: str, details: Any) -> Response:
    return error_response(status, code, message, details)


class BodySizeLimitMiddleware:
    """413 when ``Content-Length`` says the body is too big (before reading any of it),
    or when a body without one (chunked) grows past the limit while it streams."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, answer: ErrorAnswer = json_error
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                response = self.answer(
                    Request(scope), 400, "bad_request", "invalid Content-Length", None
                )
                await response(scope, receive, send)
                return
            if too_big:
                await self._reject(scope, receive, send)
                return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except RequestBodyTooLarge:
            # Read outside FastAPI's handlers (a raw ASGI route, a middleware).
            if response_started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.answer(
            Request(scope),
            413,
            "payload_too_large",
            "request body too large",
            {"max_bytes": self.max_body_bytes},
        )
        await response(scope, receive, send)


class CatchAllMiddleware:
    """Any exception the handlers did not turn into a response becomes a 500 here
    (``internal_error``), inside the header middleware, so it still carries the request id
    and the security headers; the traceback goes to the log only."""

    def __init__(self, app: ASGIApp, *, answer: ErrorAnswer = json_error) -> None:
        self.app = app
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request_id = str(_state(scope).get("request_id", "-"))
            log_unhandled(exc, request_id=request_id, path=str(scope.get("path", "")))
            if response_started:
                # Too late for a clean 500; the server closes the connection.
                raise
            response = self.answer(
                Request(scope), 500, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE, None
            )
            await response(scope, receive, send)


def install_middleware(
    app: FastAPI, settings: Settings, *, answer: ErrorAnswer = json_error
) -> None:
    """Add the middleware in order; ``add_middleware`` wraps, so the last one is outermost."""
    server = settings.server
    app.add_middleware(CatchAllMiddleware, answer=answer)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=server.max_body_bytes, answer=answer)
    if server.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.allowed_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-CSRF-Token", REQUEST_ID_HEADER],
            expose_headers=[
                REQUEST_ID_HEADER,
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, https=server.https)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
