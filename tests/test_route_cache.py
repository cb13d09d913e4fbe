"""The test-process memo of FastAPI's route building (tests/route_cache.py): an app built
again gets the routes built the first time, and only those of an equal inclusion."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from echo_ai.app import create_app
from echo_ai.config import Settings
from tests import route_cache


def _app_with(router: APIRouter, **include: object) -> FastAPI:
    app = FastAPI()
    app.include_router(router, **include)  # type: ignore[arg-type]
    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


def test_a_route_included_alike_is_built_once_and_answers_in_each_app() -> None:
    assert not route_cache.install()  # conftest installed it; a second install is a no-op
    router = APIRouter()

    @router.get("/hello")
    async def hello(name: str = "world") -> dict[str, str]:
        return {"hello": name}

    before = len(route_cache._cache)
    for _ in range(3):
        response = asyncio.run(_get(_app_with(router), "/hello?name=ada"))
        assert response.json() == {"hello": "ada"}
    assert len(route_cache._cache) == before + 1

    prefixed = asyncio.run(_get(_app_with(router, prefix="/v2"), "/v2/hello"))
    assert prefixed.json() == {"hello": "world"}
    assert len(route_cache._cache) == before + 2  # another inclusion: built for it


def test_apps_of_the_service_share_their_routes_and_keep_their_own_state(tmp_path: Path) -> None:
    async def status(data_dir: Path) -> int:
        app = create_app(Settings(data_dir=data_dir))
        async with app.router.lifespan_context(app):
            return (await _get(app, "/v1/experiments")).status_code

    assert asyncio.run(status(tmp_path / "one")) == 401
    built = len(route_cache._cache)
    assert asyncio.run(status(tmp_path / "two")) == 401
    # Only the routers create_app makes anew per app (docs, assets) add routes.
    assert len(route_cache._cache) - built < 10
