"""The accounts and API-key endpoints over HTTP, as a client would use them."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.config import Settings
from tests.kit import PASSWORD, ManualClock, bearer, login, register, register_and_login

pytestmark = pytest.mark.usefixtures("backend")


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    tokens = await login(client, "ada@example.com")
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    response = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    me = response.json()
    assert me["email"] == "ada@example.com"
    assert [(m["personal"], m["role"]) for m in me["memberships"]] == [(True, "owner")]
    assert response.headers["cache-control"] == "no-store"


async def test_registration_does_not_reveal_existing_accounts(client: httpx.AsyncClient) -> None:
    body = {"email": "ada@example.com", "password": PASSWORD}
    first = await client.post("/auth/register", json={**body, "accept_terms": True})
    again = await client.post(
        "/auth/register", json={**body, "password": "x" * 20, "accept_terms": True}
    )
    assert (first.status_code, first.json()) == (again.status_code, again.json())
    # ...and the second attempt did not change the password.
    login = await client.post("/auth/login", json=body)
    assert login.status_code == 200


async def test_an_email_longer_than_its_column_once_lowered_is_refused(
    client: httpx.AsyncClient,
) -> None:
    # 316 characters as sent, 616 once lowered ("\u0130" lowers to two): too long to store.
    email = "a@" + "\u0130" * 310 + ".com"
    response = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "accept_terms": True}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "email"


async def test_login_failures_look_the_same(client: httpx.AsyncClient) -> None:
    await register_and_login(client)
    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    wrong = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": "not the password"}
    )
    assert unknown.status_code == wrong.status_code == 401
    assert (
        unknown.json()
        == wrong.json()
        == {
            "error": {
                "code": "invalid_credentials",
                "message": "email or password is incorrect",
                "details": None,
            }
        }
    )


async def test_refresh_rotation_and_reuse_over_http(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    tokens = await login(client, "ada@example.com")
    rotated = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    replay = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "invalid_refresh_token"
    # The replay revoked the whole family, including the token issued by the rotation.
    latest = await client.post(
        "/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
    )
    assert latest.status_code == 401


async def test_logout_and_password_change(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    tokens = await login(client, "ada@example.com")
    headers = bearer(tokens["access_token"])
    weak = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    changed = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
    )
    assert changed.status_code == 204
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    again = await login(client, "ada@example.com", "another long passphrase")
    out = await client.post("/auth/logout", json={"refresh_token": again["refresh_token"]})
    assert out.status_code == 204
    refresh = await client.post("/auth/refresh", json={"refresh_token": again["refresh_token"]})
    assert refresh.status_code == 401


async def test_api_key_lifecycle(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    tokens = await login(client, "ada@example.com")
    owner = bearer(tokens["access_token"])
    created = await client.post(
        "/v1/api-keys", headers=owner, json={"name": "ci", "scopes": ["read"]}
    )
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith("echo_live_") and key["key"].endswith(key["last4"])

    whoami = await client.get("/v1/whoami", headers=bearer(key["key"]))
    assert whoami.status_code == 200
    assert whoami.json()["can_write"] is False  # read scope only
    listed = await client.get("/v1/api-keys", headers=owner)
    assert [item["name"] for item in listed.json()] == ["ci"]
    assert "key" not in listed.json()[0]  # shown once, never again

    # An API key cannot manage keys, and a revoked key stops working.
    assert (await client.get("/v1/api-keys", headers=bearer(key["key"]))).status_code == 403
    revoked = await client.delete(f"/v1/api-keys/{key['id']}", headers=owner)
    assert revoked.status_code == 204
    rejected = await client.get("/v1/whoami", headers=bearer(key["key"]))
    assert rejected.status_code == 401
    assert rejected.headers["www-authenticate"] == "Bearer"


async def test_another_workspace_is_not_found(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    ada = await login(client, "ada@example.com")
    await register(client, "bob@example.com")
    bob = await login(client, "bob@example.com")
    me = await client.get("/auth/me", headers=bearer(ada["access_token"]))
    ada_workspace = me.json()["memberships"][0]["workspace_id"]
    key = await client.post("/v1/api-keys", headers=bearer(ada["access_token"]), json={"name": "k"})
    as_bob = {**bearer(bob["access_token"]), "X-Workspace-ID": ada_workspace}
    assert (await client.get("/v1/whoami", headers=as_bob)).status_code == 404
    deleted = await client.delete(
        f"/v1/api-keys/{key.json()['id']}", headers=bearer(bob["access_token"])
    )
    assert deleted.status_code == 404


@pytest.mark.parametrize(
    "header",
    ["", "Basic abc", "Bearer ", "Bearer not-a-jwt", "Bearer echo_live_short"],
)
async def test_bad_credentials_are_401_with_the_error_shape(
    client: httpx.AsyncClient, header: str
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_failed_logins_slow_their_client_down(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    started_app.state.sign_in_throttle.clock = ManualClock()  # time stands still
    await register_and_login(client)
    statuses = []
    for _ in range(5):
        response = await client.post(
            "/auth/login", json={"email": "ada@example.com", "password": "wrong password!"}
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429, 429]  # the successful login did not count
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["message"].endswith("try again in 1 seconds")


async def test_each_workspace_has_an_api_rate_limit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    settings.server.workspace_requests_per_minute = 3
    assert [(await client.get("/v1/whoami", headers=ada)).status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    limited = await client.get("/v1/whoami", headers=ada)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "retry-after" in limited.headers
    assert (await client.get("/v1/whoami", headers=bob)).status_code == 200  # per workspace
