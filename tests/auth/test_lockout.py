"""Issue 9 §6 over real HTTP: a stranger cannot lock an account out, and an address that
guesses credentials is stopped.

Clients are told apart by their address. The live server, like ``echo-ai api`` behind a
proxy, trusts ``X-Forwarded-For`` from 127.0.0.1 (uvicorn's ``proxy_headers``), so each
``X-Forwarded-For`` value here is another client. Each test runs with the limits in
memory (``echo-ai serve``) and in Redis (``echo-ai api`` with ``REDIS_URL``). The sign-in
throttle's clock is frozen: its delays pass only when a test says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.api.state import TOKEN_AUDIENCE, TOKEN_ISSUER
from echo_ai.config import Settings
from echo_ai.security.expiring_store import RedisStore
from echo_ai.security.tokens import TokenSigner
from tests.accounts_http import api_key, create_team, register_and_login
from tests.kit import PASSWORD, ManualClock, bearer
from tests.live import LiveServer
from tests.servers import flushed_redis

REDIS_DB = 5 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0) % 2
"""This module's Redis database (5 or 6: one per test process), flushed around each test."""

OWNER = {"X-Forwarded-For": "198.51.100.7"}
STRANGER = {"X-Forwarded-For": "203.0.113.66"}
ADA = {"email": "ada@example.com", "password": PASSWORD}


@pytest.fixture(params=["memory", "redis"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The test's settings with the rate limits in memory or in a flushed Redis database."""
    if request.param == "memory":
        yield settings
        return
    with flushed_redis(REDIS_DB) as url:
        settings.redis_url = url
        yield settings


@pytest.fixture
def clock(app: FastAPI, live_server: LiveServer, settings: Settings) -> ManualClock:
    """The running app's sign-in throttle, on a clock that moves only when told."""
    assert live_server.server.config.proxy_headers  # X-Forwarded-For names the client
    shared = isinstance(app.state.sign_in_throttle.store, RedisStore)
    assert shared is (settings.redis_url is not None)
    frozen = ManualClock()
    app.state.sign_in_throttle.clock = frozen
    return frozen


def _login(http: httpx.Client, client: dict[str, str], password: str) -> httpx.Response:
    return http.post("/auth/login", json={**ADA, "password": password}, headers=client)


def test_a_stranger_cannot_lock_the_owner_out(http: httpx.Client, clock: ManualClock) -> None:
    register_and_login(http, ADA["email"], **OWNER)
    guesses = [_login(http, STRANGER, f"wrong password {n}") for n in range(12)]
    assert [r.status_code for r in guesses] == [401] * 3 + [429] * 9
    slowed = guesses[-1]
    assert slowed.headers["retry-after"] == "1"
    assert slowed.json()["error"]["code"] == "rate_limited"
    assert slowed.json()["error"]["message"] == (
        "too many failed sign-ins to this account from your address: try again in 1 seconds"
    )
    # The owner, from their usual client, signs in at once; the stranger still waits,
    # even with the right password (it is not checked).
    assert _login(http, OWNER, PASSWORD).status_code == 200
    assert _login(http, STRANGER, PASSWORD).status_code == 429
    session = http.post("/auth/session", json=ADA, headers=STRANGER)
    assert session.status_code == 429 and session.headers["retry-after"] == "1"
    # The wait grows with every failure and passes on the throttle's clock.
    clock.advance(1)
    assert _login(http, STRANGER, "wrong again").status_code == 401
    assert _login(http, STRANGER, PASSWORD).headers["retry-after"] == "2"
    clock.advance(2)
    assert _login(http, STRANGER, PASSWORD).status_code == 200  # and that resets the pair
    assert [_login(http, STRANGER, "nope").status_code for _ in range(4)] == [401] * 3 + [429]


def test_an_address_that_guesses_credentials_is_stopped(http: httpx.Client) -> None:
    team = create_team(http, ("admin",))
    ada = team.as_["owner"]
    guesser = {**ada, **STRANGER}  # holds a valid token, and guesses
    refused = [
        *(
            http.get("/v1/experiments", headers={**STRANGER, **bearer(f"echo_live_{n:0>38}")})
            for n in range(10)
        ),
        *(
            http.get("/v1/whoami", headers={**STRANGER, **bearer(f"ey.forged.{n}")})
            for n in range(10)
        ),
        *(
            http.post("/auth/refresh", json={"refresh_token": f"echo_rt_{n}"}, headers=STRANGER)
            for n in range(5)
        ),
        *(
            http.post("/v1/invitations/accept", json={"token": f"echo_inv_{n}"}, headers=guesser)
            for n in range(5)
        ),
    ]
    assert [r.status_code for r in refused] == [401] * 25 + [404] * 5
    # 30 guesses in 10 minutes: now this address gets 429 even for right credentials.
    for blocked in (
        http.get("/v1/experiments", headers=guesser),
        http.get("/v1/experiments", headers={**STRANGER, **bearer("echo_live_" + "0" * 38)}),
        http.post("/auth/refresh", json={"refresh_token": "echo_rt_x"}, headers=STRANGER),
    ):
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["error"]["message"].startswith(
            "too many unknown credentials were sent from your address: try again in "
        )
        assert 1 <= int(blocked.headers["retry-after"]) <= 600
    # Other addresses are not affected.
    assert http.get("/v1/experiments", headers=ada).status_code == 200
    assert http.get("/v1/experiments", headers={**ada, **OWNER}).status_code == 200


def test_credentials_we_issued_are_not_guesses(http: httpx.Client, app: FastAPI) -> None:
    """Expired tokens, revoked keys and used refresh tokens are refused, but do not count:
    a client's token expiring, or a forgotten job with a revoked key behind the same
    address, does not lock that address out."""
    ada = register_and_login(http, ADA["email"])
    created = api_key(http, ada, ["read"])
    assert http.delete(f"/v1/api-keys/{created['id']}", headers=ada).status_code == 204
    user_id = http.get("/auth/me", headers=ada).json()["id"]
    an_hour_ago = TokenSigner(
        app.state.service.keys.signing_keys(),
        issuer=TOKEN_ISSUER,
        audience=TOKEN_AUDIENCE,
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    expired = bearer(an_hour_ago.issue(user_id))
    used = http.post("/auth/login", json=ADA).json()["refresh_token"]
    assert http.post("/auth/refresh", json={"refresh_token": used}).status_code == 200

    statuses = {
        *(
            http.get("/v1/experiments", headers=bearer(created["key"])).status_code
            for _ in range(20)
        ),
        *(http.get("/v1/experiments", headers=expired).status_code for _ in range(20)),
        *(http.post("/auth/refresh", json={"refresh_token": used}).status_code for _ in range(5)),
    }
    assert statuses == {401}
    assert http.get("/v1/experiments", headers=ada).status_code == 200
