"""Sign up, sign in and sign out through the pages (issue 10): the API's session cookie and
throttles, inline errors that keep what was typed, rate-limit messages that say when to
retry, no open redirect, and the login-CSRF defence (same-origin forms only)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import delete

from echo_ai.config import PrivacySettings, Settings
from echo_ai.db import transaction
from echo_ai.workspaces.models import Membership
from tests.kit import PASSWORD, ManualClock, app_runtime
from tests.web.pages import HTML, origin, sign_in, sign_up


async def test_signing_up_opens_a_session_and_goes_where_the_user_was_headed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/signup",
        data={
            "email": "Ada@Example.com",
            "password": PASSWORD,
            "next": "/brands?x=1",
            "accept_terms": "on",
        },
        headers=origin(client),
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/brands?x=1"
    assert response.headers["cache-control"] == "no-store"
    # The session works for the JSON API too: it is the same browser session.
    me = await client.get("/auth/me")
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"


async def test_sign_up_errors_are_shown_beside_the_fields_with_what_was_typed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/signup",
        data={"email": "not-an-address", "password": "short", "display_name": "Ada <b>"},
        headers=origin(client),
    )
    assert response.status_code == 422
    html = response.text
    assert 'id="e-email"' in html and "not a valid email address" in html
    assert 'value="not-an-address"' in html
    assert 'value="Ada &lt;b&gt;"' in html  # kept, and escaped
    assert 'aria-invalid="true"' in html
    assert "short" not in html.split("<main", 1)[1]  # a password is never echoed back

    weak = await client.post(
        "/signup",
        data={"email": "ada@example.com", "password": "short", "accept_terms": "on"},
        headers=origin(client),
    )
    assert weak.status_code == 422
    assert 'id="e-password"' in weak.text and "at least 12 characters" in weak.text
    assert (await client.get("/auth/me")).status_code == 401  # no account, no session


async def test_signing_up_with_a_taken_email_says_nothing_about_the_account(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    client.cookies.clear()
    again = await client.post(
        "/signup",
        data={"email": "ada@example.com", "password": "another password!!", "accept_terms": "on"},
        headers=origin(client),
    )
    assert again.status_code == 303 and again.headers["location"] == "/login?registered=1"
    assert "echo_session" not in again.headers.get("set-cookie", "")
    notice = await client.get("/login?registered=1", headers=HTML)
    assert "If this email had no account" in notice.text


async def test_sign_in_with_a_wrong_password_keeps_the_email_and_says_so(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    client.cookies.clear()
    response = await client.post(
        "/login",
        data={"email": "ada@example.com", "password": "wrong password!", "next": "/settings"},
        headers=origin(client),
    )
    assert response.status_code == 401
    assert "The email or password is incorrect." in response.text
    assert 'value="ada@example.com"' in response.text
    assert 'name="next" value="/settings"' in response.text
    ok = await sign_in(client)
    assert ok.headers["location"] == "/"


async def test_a_throttled_sign_in_says_when_to_try_again(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    started_app.state.sign_in_throttle.clock = ManualClock()  # time stands still
    await sign_up(client)
    client.cookies.clear()
    statuses = []
    for _ in range(4):
        response = await client.post(
            "/login",
            data={"email": "ada@example.com", "password": "wrong password!"},
            headers=origin(client),
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
    assert "Too many attempts. Try again in 1 second." in response.text
    assert response.headers["retry-after"] == "1"
    assert 'value="ada@example.com"' in response.text


async def test_sign_in_forms_from_another_site_are_refused(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    client.cookies.clear()
    for path in ("/login", "/signup"):
        response = await client.post(
            path,
            data={"email": "ada@example.com", "password": PASSWORD},
            headers={"Origin": "https://evil.example", **HTML},
        )
        assert response.status_code == 403, path
        assert "cross-site request refused" in response.text
        assert "echo_session" not in response.headers.get("set-cookie", "")


async def test_next_never_leads_off_the_site(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    client.cookies.clear()
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "relative"):
        response = await client.post(
            "/login",
            data={"email": "ada@example.com", "password": PASSWORD, "next": target},
            headers=origin(client),
        )
        assert response.headers["location"] == "/", target
        client.cookies.clear()


async def test_signed_out_pages_lead_to_sign_in_and_back(client: httpx.AsyncClient) -> None:
    response = await client.get("/settings?tab=keys", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings%3Ftab%3Dkeys"
    htmx = await client.get("/settings", headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == "/login?next=/settings"
    await sign_up(client)
    login_page = await client.get("/login?next=/brands", headers=HTML)
    assert login_page.status_code == 303 and login_page.headers["location"] == "/brands"


async def test_signing_out_ends_the_session_for_good(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    session_cookie = client.cookies["echo_session"]
    token = client.cookies["echo_csrf"]  # the session's CSRF token, as the pages carry it
    refused = await client.post("/logout", headers=origin(client))
    assert refused.status_code == 403  # no CSRF token: not signed out by a forged form
    response = await client.post("/logout", data={"csrf_token": token}, headers=origin(client))
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert 'echo_session=""' in response.headers.get("set-cookie", "")
    client.cookies.clear()
    client.cookies.set("echo_session", session_cookie)  # the old cookie, kept by an attacker
    assert (await client.get("/auth/me")).status_code == 401
    assert (await client.get("/settings", headers=HTML)).status_code == 303


async def test_the_switcher_chooses_only_the_users_own_workspaces(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client, "bob@example.com")
    bobs = (await client.get("/auth/me")).json()["memberships"][0]["workspace_id"]
    client.cookies.clear()
    await sign_up(client)
    token = client.cookies["echo_csrf"]
    team = await client.post(
        "/v1/workspaces",
        json={"name": "Marketing"},
        headers={"X-CSRF-Token": token, **origin(client)},
    )
    assert team.status_code == 201, team.text
    mine = team.json()["id"]
    for chosen, kept in ((mine, True), (bobs, False), ("not-an-id", False)):
        response = await client.post(
            "/workspace",
            data={"csrf_token": token, "workspace_id": chosen, "next": "/brands/x"},
            headers=origin(client),
        )
        assert response.status_code == 303 and response.headers["location"] == "/brands"
        assert ("echo_workspace=" in response.headers.get("set-cookie", "")) is kept, chosen


async def test_htmx_requests_are_redirected_with_hx_redirect(client: httpx.AsyncClient) -> None:
    """After a form htmx sent, the answer is ``HX-Redirect`` (a full page load), not a 303
    htmx would follow and swap into the page; cookies set on it apply all the same."""
    await sign_up(client)
    token = client.cookies["echo_csrf"]
    mine = (await client.get("/auth/me")).json()["memberships"][0]["workspace_id"]
    htmx = {"HX-Request": "true", "X-CSRF-Token": token, **origin(client)}
    switched = await client.post(
        "/workspace", data={"workspace_id": mine, "next": "/settings"}, headers=htmx
    )
    assert switched.status_code == 204 and switched.headers["hx-redirect"] == "/settings"
    cookie = switched.headers["set-cookie"]
    assert f"echo_workspace={mine}" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    signed_in = await client.get("/signup?next=/brands", headers={"HX-Request": "true"})
    assert signed_in.status_code == 204 and signed_in.headers["hx-redirect"] == "/brands"
    out = await client.post("/logout", headers=htmx)
    assert out.status_code == 204 and out.headers["hx-redirect"] == "/login"
    assert 'echo_session=""' in out.headers.get("set-cookie", "")


async def test_sign_in_pages_show_for_a_session_without_a_workspace(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A session whose account has no workspace left can see nothing: the sign-in page
    shows (it used to send it to ``/``, which sent it back: a redirect loop)."""
    await sign_up(client)
    async with transaction(app_runtime(app).session_factory) as session:
        await session.execute(delete(Membership))
    for path in ("/login?next=/brands", "/signup"):
        response = await client.get(path, headers=HTML)
        assert response.status_code == 200, (path, response.status_code)
    assert (await client.get("/", headers=HTML)).headers["location"] == "/login"


async def test_the_sign_up_page_links_the_published_terms_and_privacy_policy(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    plain = (await client.get("/signup", headers=HTML)).text
    assert "terms of service</a>" not in plain and "terms of service (version" in plain
    settings.privacy.terms_url = "https://example.com/terms"
    settings.privacy.privacy_url = "/static/privacy.html"
    linked = (await client.get("/signup", headers=HTML)).text
    assert '<a href="https://example.com/terms" target="_blank" rel="noopener">' in linked
    assert (
        '<a href="/static/privacy.html" target="_blank" rel="noopener">privacy policy</a>' in linked
    )


@pytest.mark.parametrize("link", ["javascript:alert(1)", "example.com/terms", "https://x/ y"])
def test_a_document_link_is_an_http_url_or_a_path(link: str) -> None:
    with pytest.raises(ValidationError, match="terms_url"):
        PrivacySettings(terms_url=link)
