"""``/health`` (liveness: the process answers) and ``/health/ready`` (it can serve).

Readiness runs every check in :func:`readiness_checks` with a timeout. To add one (e.g.
a Celery broker), add an entry there: a name and an ``async (state, request) -> None``
that raises when the dependency is not usable. Failure details go to the log, not to
the (unauthenticated) response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from echo_ai.api.deps import StateDep
from echo_ai.api.errors import error_response, error_responses
from echo_ai.api.state import ServiceState
from echo_ai.security.rate_limit import RateLimiter

log = logging.getLogger("echo_ai.api.health")

CHECK_TIMEOUT_SECONDS = 3.0

ReadinessCheck = Callable[[ServiceState, Request], Awaitable[None]]

router = APIRouter(prefix="/health", tags=["health"])


async def check_database(state: ServiceState, request: Request) -> None:
    async with state.runtime.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def check_redis(state: ServiceState, request: Request) -> None:
    """The shared Redis, through the rate limiter's storage (the one Redis user so far)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    if not await limiter.check():
        raise ConnectionError("rate-limit storage did not answer")


def readiness_checks(request: Request) -> dict[str, ReadinessCheck]:
    checks: dict[str, ReadinessCheck] = {"database": check_database}
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    # Redis hook: checked only when configured (REDIS_URL); the embedded default has none.
    if limiter is not None and not limiter.uses_memory:
        checks["redis"] = check_redis
    return checks


async def _run(name: str, check: ReadinessCheck, state: ServiceState, request: Request) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check(state, request)
    except Exception:
        log.warning("readiness check %s failed", name, exc_info=True)
        return False
    return True


@router.get("", summary="Liveness: the process is up (no dependency checked)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the database (and Redis when configured) answer",
    responses=error_responses(503),
    response_model=None,
)
async def ready(state: StateDep, request: Request) -> JSONResponse | dict[str, object]:
    checks = readiness_checks(request)
    results = await asyncio.gather(
        *(_run(name, check, state, request) for name, check in checks.items())
    )
    statuses = {
        name: "ok" if passed else "failed" for name, passed in zip(checks, results, strict=True)
    }
    if all(results):
        return {"status": "ready", "checks": statuses}
    failing = [name for name, status in statuses.items() if status != "ok"]
    return error_response(
        503,
        "not_ready",
        f"not ready: {', '.join(failing)} unavailable",
        {"checks": statuses},
        headers={"Retry-After": "5"},
    )


# Load balancers and orchestrators probe with HEAD as well as GET (the same answer, no
# body); one operation each in the OpenAPI schema.
for _path, _probe in (("", health), ("/ready", ready)):
    router.add_api_route(
        _path, _probe, methods=["HEAD"], include_in_schema=False, response_model=None
    )
