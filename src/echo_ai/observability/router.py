"""``GET /metrics`` on the API, behind a bearer token.

Registered only when ``metrics_token`` is configured (otherwise ``/metrics`` is a 404 and
metrics are served, if at all, by the separate server on ``metrics_port``). Not in the
OpenAPI schema.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from echo_ai.errors import AppError
from echo_ai.observability.server import render_latest

METRICS_PATH = "/metrics"


class MetricsUnauthorized(AppError):
    status_code = 401
    code = "not_authenticated"
    headers: Mapping[str, str] = {"WWW-Authenticate": "Bearer"}


def metrics_router(token: str) -> APIRouter:
    """The ``/metrics`` route, answering only ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()
    router = APIRouter(include_in_schema=False)

    @router.get(METRICS_PATH)
    async def metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
        presented = (authorization or "").encode()
        if not hmac.compare_digest(presented, expected):
            raise MetricsUnauthorized("send `Authorization: Bearer <metrics token>`")
        # Off the event loop: the queue depth may be a Redis round trip.
        body = await asyncio.to_thread(render_latest)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
