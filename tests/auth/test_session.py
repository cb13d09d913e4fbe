"""The browser session cookie and its CSRF defences (SEC-02), over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from echo_ai.config import Settings
from tests.kit import PASSWORD
from tests.kit import register as register_user

pytestmark = pytest.mark.usefixtures("backend")

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
EXPERIMENT: dict[str, Any] = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]},
    "providers": ["demo"],
    "iterations": 2,
}


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


async def _sign_in(
    client: httpx.AsyncClient, email: str = "ada@example.com", *, register: bool = True
) -> tuple[str, str]:
    """(session cookie value, CSRF token); the client's own cookie jar is left empty so
    each test states exactly which cookies it sends."""
    if register:
        await register_user(client, email)
    response = await client.post("/auth/session", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    csrf: str = response.json()["csrf_token"]
    session = _set_cookies(response)["echo_session"].split(";")[0].split("=", 1)[1]
    return session, csrf


def _cookies(session: str, csrf: str | None = None, name: str = "echo_session") -> dict[str, str]:
    value = f"{name}={session}" + (f"; echo_csrf={csrf}" if csrf else "")
    return {"Cookie": value}


async def test_sign_in_sets_an_httponly_lax_cookie_and_returns_a_csrf_token(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register_user(client, "ada@example.com")
    response = await client.post(
        "/auth/session", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"csrf_token"}  # no bearer tokens for the browser
    cookies = _set_cookies(response)
    session = cookies["echo_session"].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert f"max-age={settings.auth.refresh_token_days * 86400}" in session
    assert "secure" not in session  # plain HTTP in this setup
    csrf = cookies["echo_csrf"]
    assert csrf.startswith(f"echo_csrf={body['csrf_token']};")
    assert "httponly" not in csrf.lower() and "samesite=lax" in csrf.lower()


async def test_failed_browser_sign_in_sets_no_cookie(client: httpx.AsyncClient) -> None:
    await register_user(client, "ada@example.com")
    response = await client.post(
        "/auth/session", json={"email": "ada@example.com", "password": "not the password"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert "set-cookie" not in response.headers


@pytest.fixture
def https_settings(settings: Settings) -> Settings:
    settings.server.public_url = "https://echo.example.com"
    return settings


async def test_over_https_the_cookie_is_host_prefixed_and_secure(
    https_settings: Settings, client: httpx.AsyncClient
) -> None:
    await register_user(client, "ada@example.com")
    response = await client.post(
        "/auth/session", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    cookies = _set_cookies(response)
    assert "echo_session" not in cookies
    session = cookies["__Host-echo_session"].lower()
    assert "secure" in session and "httponly" in session and "path=/" in session
    assert "domain" not in session
    assert "secure" in cookies["echo_csrf"].lower()
    value = cookies["__Host-echo_session"].split(";")[0].split("=", 1)[1]
    client.cookies.clear()
    me = await client.get("/auth/me", headers=_cookies(value, name="__Host-echo_session"))
    assert me.status_code == 200
    # Only the prefixed cookie counts over HTTPS (a sibling subdomain can set the other).
    plain = await client.get("/auth/me", headers=_cookies(value))
    assert plain.status_code == 401
    # The configured public origin is an allowed origin for unsafe requests.
    created = await client.post(
        "/v1/experiments",
        json=EXPERIMENT,
        headers={
            **_cookies(value, response.json()["csrf_token"], name="__Host-echo_session"),
            "X-CSRF-Token": response.json()["csrf_token"],
            "Origin": "https://echo.example.com",
        },
    )
    assert created.status_code == 202, created.text


async def test_the_cookie_authenticates_safe_requests(client: httpx.AsyncClient) -> None:
    session, _ = await _sign_in(client)
    me = await client.get("/auth/me", headers=_cookies(session))
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"
    assert me.headers["cache-control"] == "no-store"
    listed = await client.get("/v1/experiments", headers=_cookies(session))
    assert listed.status_code == 200
    assert (await client.get("/auth/me")).status_code == 401
    forged = await client.get("/auth/me", headers=_cookies("not-a-session"))
    assert forged.status_code == 401


def _csrf_failed(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


async def test_unsafe_cookie_requests_need_the_csrf_token_and_our_origin(
    client: httpx.AsyncClient,
) -> None:
    session, csrf = await _sign_in(client)
    _, other_csrf = await _sign_in(client, "bob@example.com")

    async def post(headers: dict[str, str]) -> httpx.Response:
        return await client.post("/v1/experiments", json=EXPERIMENT, headers=headers)

    # No header (the cookie alone, as a cross-site form would send it).
    assert _csrf_failed(await post({**_cookies(session, csrf), **SAME_ORIGIN}))
    # A wrong token, in both copies.
    wrong = csrf[:-2] + ("AA" if not csrf.endswith("AA") else "BB")
    assert _csrf_failed(
        await post({**_cookies(session, wrong), "X-CSRF-Token": wrong, **SAME_ORIGIN})
    )
    # Header and cookie that differ.
    assert _csrf_failed(
        await post({**_cookies(session, other_csrf), "X-CSRF-Token": csrf, **SAME_ORIGIN})
    )
    # A valid token of another session.
    assert _csrf_failed(
        await post({**_cookies(session, other_csrf), "X-CSRF-Token": other_csrf, **SAME_ORIGIN})
    )
    right = {**_cookies(session, csrf), "X-CSRF-Token": csrf}
    # The right token from another site, or with no origin evidence at all.
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert _csrf_failed(await post({**right, **cross_site}))
    assert _csrf_failed(await post({**right, "Origin": "https://evil.example"}))
    assert _csrf_failed(await post(right))
    # The right token from our own pages.
    assert (await post({**right, **SAME_ORIGIN})).status_code == 202
    assert (await post({**right, "Origin": "http://testserver"})).status_code == 202


async def test_bearer_and_api_key_requests_are_exempt_and_ignore_cookies(
    client: httpx.AsyncClient,
) -> None:
    session, _ = await _sign_in(client)
    login = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    created = await client.post("/v1/experiments", json=EXPERIMENT, headers=bearer)
    assert created.status_code == 202
    # With a session cookie too, a Bearer request is still not CSRF-checked...
    both = await client.post(
        "/v1/experiments", json=EXPERIMENT, headers={**bearer, **_cookies(session)}
    )
    assert both.status_code == 202
    # ...and a bad Authorization header does not fall back to the cookie.
    bad = await client.get(
        "/auth/me", headers={"Authorization": "Bearer nope", **_cookies(session)}
    )
    assert bad.status_code == 401
    key = await client.post(
        "/v1/api-keys", headers=bearer, json={"name": "k", "scopes": ["read", "write"]}
    )
    with_key = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (
        await client.post("/v1/experiments", json=EXPERIMENT, headers=with_key)
    ).status_code == 202


async def test_sign_out_revokes_the_session_and_clears_the_cookies(
    client: httpx.AsyncClient,
) -> None:
    session, csrf = await _sign_in(client)
    other, _ = await _sign_in(client, register=False)  # a second browser of the same user
    # Signing out is an unsafe request too.
    refused = await client.delete("/auth/session", headers={**_cookies(session), **SAME_ORIGIN})
    assert _csrf_failed(refused)
    signed_out = await client.delete(
        "/auth/session", headers={**_cookies(session, csrf), "X-CSRF-Token": csrf, **SAME_ORIGIN}
    )
    assert signed_out.status_code == 204
    cleared = _set_cookies(signed_out)
    assert "max-age=0" in cleared["echo_session"].lower()
    assert "max-age=0" in cleared["echo_csrf"].lower()
    assert (await client.get("/auth/me", headers=_cookies(session))).status_code == 401
    # Only that session ended; and signing out again is harmless.
    assert (await client.get("/auth/me", headers=_cookies(other))).status_code == 200
    again = await client.delete("/auth/session", headers=_cookies(session))
    assert again.status_code == 204


async def test_a_rotated_or_revoked_session_is_refused(client: httpx.AsyncClient) -> None:
    session, _ = await _sign_in(client)
    # The cookie is a refresh token: once rotated it no longer signs in...
    rotated = await client.post("/auth/refresh", json={"refresh_token": session})
    assert rotated.status_code == 200
    assert (await client.get("/auth/me", headers=_cookies(session))).status_code == 401
    # ...and replaying it revokes the family, including the token the rotation issued.
    replay = await client.post("/auth/refresh", json={"refresh_token": session})
    assert replay.status_code == 401
    successor = rotated.json()["refresh_token"]
    assert (await client.get("/auth/me", headers=_cookies(successor))).status_code == 401

    # Logout with the token (as with any refresh token) revokes it too.
    fresh, _ = await _sign_in(client, register=False)
    assert (await client.get("/auth/me", headers=_cookies(fresh))).status_code == 200
    await client.post("/auth/logout", json={"refresh_token": fresh})
    assert (await client.get("/auth/me", headers=_cookies(fresh))).status_code == 401
