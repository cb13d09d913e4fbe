"""The HTTP latency histogram, as pure ASGI middleware (nothing buffered)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_ai.observability.metrics import HTTP_REQUEST_DURATION

UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/experiments/{experiment_id}``), never the
    raw path, so that label values stay few; ``unmatched`` when no route matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetricsMiddleware:
    """Observe ``http_request_duration_seconds`` for every HTTP request, from its start to
    the end of the response body; a request that raised counts as status 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            HTTP_REQUEST_DURATION.labels(
                method=str(scope.get("method", "")),
                route=route_template(scope),
                status=str(status),
            ).observe(time.perf_counter() - started)
