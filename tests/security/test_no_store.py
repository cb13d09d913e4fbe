"""Issue 9 §5: responses that carry a credential, and authenticated ones, are ``no-store``.

Over real HTTP, as the probe did it: sign-in, browser session, refresh and key creation
hand out credentials, errors to requests that carried one are private too, and public
anonymous responses (``/health``, the API docs) stay cacheable as before.
"""

from __future__ import annotations

import httpx
import pytest

from tests.accounts_http import api_key, register_and_login
from tests.kit import PASSWORD, bearer

pytestmark = pytest.mark.usefixtures("backend")

CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}


def _no_store(response: httpx.Response) -> bool:
    return response.headers.get("cache-control") == "no-store"


def test_responses_with_credentials_are_not_stored(http: httpx.Client) -> None:
    registered = http.post("/auth/register", json={**CREDENTIALS, "accept_terms": True})
    login = http.post("/auth/login", json=CREDENTIALS)
    assert (registered.status_code, login.status_code) == (201, 200)
    refreshed = http.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert refreshed.status_code == 200 and "access_token" in refreshed.json()
    session = http.post("/auth/session", json=CREDENTIALS)
    assert session.status_code == 200 and "set-cookie" in session.headers
    http.cookies.clear()  # the next requests carry only what they say
    key = http.post(
        "/v1/api-keys", headers=bearer(refreshed.json()["access_token"]), json={"name": "k"}
    )
    assert key.status_code == 201 and key.json()["key"].startswith("echo_live_")
    for response in (registered, login, refreshed, session, key):
        assert _no_store(response), (response.request.url, response.headers)


def test_authenticated_responses_and_their_errors_are_not_stored(http: httpx.Client) -> None:
    ada = register_and_login(http, "ada@example.com")
    key = bearer(api_key(http, ada, ["read"])["key"])
    responses = {
        "user": http.get("/v1/experiments", headers=ada),
        "key": http.get("/v1/experiments", headers=key),
        "key refused a write": http.post("/v1/experiments", headers=key, json={}),
        "not found": http.get(f"/v1/experiments/{'0' * 32}", headers=ada),
        "bad token": http.get("/v1/experiments", headers=bearer("not-a-token")),
        "health with a token": http.get("/health", headers=ada),
        "failed login": http.post("/auth/login", json={**CREDENTIALS, "password": "x" * 12}),
        "unknown refresh token": http.post("/auth/refresh", json={"refresh_token": "echo_rt_x"}),
    }
    assert [response.status_code for response in responses.values()] == [
        200, 200, 403, 404, 401, 200, 401, 401,
    ]  # fmt: skip
    assert {name for name, response in responses.items() if not _no_store(response)} == set()
    cookie = http.get("/v1/experiments", headers={"Cookie": "echo_session=whatever"})
    assert cookie.status_code == 401 and _no_store(cookie)


def test_public_anonymous_responses_stay_cacheable(http: httpx.Client) -> None:
    for path in ("/health", "/openapi.json", "/docs"):
        response = http.get(path)
        assert response.status_code == 200
        assert "cache-control" not in response.headers, path


def test_public_assets_keep_their_caching_for_a_signed_in_browser(http: httpx.Client) -> None:
    """A response that declares itself ``public`` (versioned assets, the same for
    everyone) is not made ``no-store`` by the session cookie a signed-in browser sends."""
    http.post("/auth/register", json={**CREDENTIALS, "accept_terms": True})
    assert http.post("/auth/session", json=CREDENTIALS).status_code == 200
    page = http.get("/docs")
    asset = next(part.split('"')[1] for part in page.text.split("src=")[1:])
    assert asset.startswith("/docs/assets/")
    cached = http.get(asset)
    assert cached.status_code == 200 and "echo_session" in str(cached.request.headers)
    assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert _no_store(http.get("/v1/experiments"))
