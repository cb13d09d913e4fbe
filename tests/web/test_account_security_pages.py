"""Settings → Security and Sessions, the two-step sign-in of an account with 2FA, the
consent interstitial and a workspace's 2FA requirement, as pages (no browser)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import update

from echo_ai.auth.models import Consent
from echo_ai.db import transaction, utcnow
from echo_ai.web.viewer import is_account_path
from echo_ai.workspaces.models import Role, Workspace
from tests.kit import PASSWORD, ManualClock, app_runtime, bearer, login
from tests.web.pages import HTML, origin, page, post_form, sign_in, sign_up, text_of
from tests.web.workspace_pages import second_client, team_with

SECRET = re.compile(r"Key: <code>([A-Z2-7]+)</code>")


async def _enable_on_the_page(client: httpx.AsyncClient) -> tuple[pyotp.TOTP, list[str]]:
    refused = await post_form(
        client,
        "/settings/security/2fa/begin",
        {"password": "not my password"},
        token_from="/settings/security",
    )
    assert refused.status_code == 401 and "Nothing changed" in refused.text
    assert SECRET.search(refused.text) is None  # no secret made without the password
    begun = await post_form(
        client,
        "/settings/security/2fa/begin",
        {"password": PASSWORD},
        token_from="/settings/security",
    )
    assert begun.status_code == 200
    assert "<svg" in begun.text and "otpauth" not in text_of(begun.text)
    found = SECRET.search(begun.text)
    assert found
    totp = pyotp.TOTP(found.group(1))
    previous = totp.at(utcnow() - timedelta(seconds=30))
    wrong = await post_form(
        client, "/settings/security/2fa/confirm", {"code": "00000"}, token_from="/settings/security"
    )
    assert wrong.status_code == 401 and "did not match" in wrong.text
    # A wrong code shows the same secret again (a new one would need the password).
    again = SECRET.search(wrong.text)
    assert again and again.group(1) == found.group(1)
    confirmed = await post_form(
        client,
        "/settings/security/2fa/confirm",
        {"code": previous},
        token_from="/settings/security",
    )
    assert confirmed.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{6}-[0-9a-f]{6})</code></li>", confirmed.text)
    assert len(codes) == 10
    shown = await page(client, "/settings/security")
    assert "is on" in text_of(shown) and codes[0] not in shown  # shown once only
    return totp, codes


async def test_two_factor_from_the_security_page_and_the_two_step_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    app.state.sign_in_throttle.clock = ManualClock()
    await sign_up(client)
    totp, codes = await _enable_on_the_page(client)

    client.cookies.clear()
    first = await client.post(
        "/login",
        data={"email": "ada@example.com", "password": PASSWORD, "next": "/brands"},
        headers=origin(client),
    )
    assert first.status_code == 401
    assert "enter the code from your authenticator app" in text_of(first.text)
    assert 'name="totp_code"' in first.text and PASSWORD not in first.text
    assert "echo_session" not in "".join(first.headers.get_list("set-cookie"))
    second = await client.post(
        "/login",
        data={
            "email": "ada@example.com",
            "password": PASSWORD,
            "totp_code": totp.now(),
            "ask_code": "1",
            "next": "/brands",
        },
        headers=origin(client),
    )
    assert second.status_code == 303 and second.headers["location"] == "/brands"
    assert (await client.get("/brands", headers=HTML)).status_code == 200

    # Turning it off needs the password and a code.
    refused = await post_form(
        client,
        "/settings/security/2fa/disable",
        {"password": "wrong password!!", "code": codes[0]},
        token_from="/settings/security",
    )
    assert refused.status_code == 401 and "Nothing changed" in refused.text
    off = await post_form(
        client,
        "/settings/security/2fa/disable",
        {"password": PASSWORD, "code": codes[0]},
        token_from="/settings/security",
    )
    assert off.status_code == 303
    assert "is off" in text_of(await page(client, "/settings/security?done=disabled"))


async def test_a_revoked_web_session_is_refused_at_once(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    api = bearer((await login(client, "ada@example.com"))["access_token"])
    sessions = await page(client, "/settings/sessions")
    assert "this browser" in sessions and "Sign out everywhere else" in sessions
    listed = (await client.get("/v1/account/sessions", headers=api)).json()
    assert len(listed) == 2
    browser = next(s for s in listed if not s["current"])
    # Revoked from the API (another device): the browser's next page asks to sign in.
    revoked = await client.delete(f"/v1/account/sessions/{browser['id']}", headers=api)
    assert revoked.status_code == 204
    response = await client.get("/brands", headers=HTML)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_the_sessions_page_signs_out_other_sessions(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    tokens = await login(client, "ada@example.com")
    listed = await client.get("/v1/account/sessions", headers=bearer(tokens["access_token"]))
    api_session = next(s for s in listed.json() if s["current"])
    html = await page(client, "/settings/sessions")
    assert f"/settings/sessions/{api_session['id']}/revoke" in html
    done = await post_form(
        client, f"/settings/sessions/{api_session['id']}/revoke", token_from="/settings/sessions"
    )
    assert done.status_code == 303
    refused = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401
    other = await login(client, "ada@example.com")
    everywhere = await post_form(
        client, "/settings/sessions/revoke-all", token_from="/settings/sessions"
    )
    assert everywhere.status_code == 303
    refused = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refused.status_code == 401
    assert (await client.get("/brands", headers=HTML)).status_code == 200  # this one kept


async def test_sign_up_needs_the_terms_and_a_new_version_is_asked_for(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    refused = await client.post(
        "/signup",
        data={"email": "ada@example.com", "password": PASSWORD, "marketing_opt_in": "on"},
        headers=origin(client),
    )
    assert refused.status_code == 422
    assert "accept the terms" in text_of(refused.text)
    await sign_up(client)
    security = await page(client, "/settings/security")
    assert "Terms of service" in security and "You do not receive product news" in text_of(security)

    async with transaction(app_runtime(app).session_factory) as session:
        await session.execute(update(Consent).values(version="2020-01-01"))
    response = await client.get("/brands", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/consent?next=/brands"
    interstitial = await page(client, "/consent?next=/brands")
    assert "Our terms have changed" in interstitial
    not_ticked = await post_form(client, "/consent", {"next": "/brands"}, token_from="/consent")
    assert not_ticked.status_code == 200 and "Our terms have changed" in not_ticked.text
    accepted = await post_form(
        client, "/consent", {"next": "/brands", "accept": "on"}, token_from="/consent"
    )
    assert accepted.status_code == 303 and accepted.headers["location"] == "/brands"
    assert (await client.get("/brands", headers=HTML)).status_code == 200

    opted = await post_form(
        client, "/settings/security/marketing", {"opt_in": "1"}, token_from="/settings/security"
    )
    assert opted.status_code == 303
    assert "You receive occasional product news" in text_of(
        await page(client, "/settings/security")
    )


async def test_a_workspace_requiring_2fa_shows_members_the_way_to_turn_it_on(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # ada@ owns a team workspace (the one her pages show); bob@ is a member looking at it.
    _, bob = await team_with(app, client, Role.MEMBER)
    refused = await post_form(
        client,
        "/settings/security/workspace",
        {"require_2fa": "1"},
        token_from="/settings/security",
    )
    assert refused.status_code == 409 and "own account first" in text_of(refused.text)
    await _enable_on_the_page(client)
    required = await post_form(
        client,
        "/settings/security/workspace",
        {"require_2fa": "1"},
        token_from="/settings/security",
    )
    assert required.status_code == 303
    assert (await client.get("/brands", headers=HTML)).status_code == 200  # the owner has 2FA
    blocked = await bob.get("/brands", headers=HTML)
    assert blocked.status_code == 403
    assert 'href="/settings/security"' in blocked.text
    assert "requires two-factor authentication" in text_of(blocked.text)
    assert (await bob.get("/settings/security", headers=HTML)).status_code == 200
    await _enable_on_the_page(bob)
    assert (await bob.get("/brands", headers=HTML)).status_code == 200


async def test_a_co_owner_without_2fa_cannot_lift_the_requirement(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    workspace_id, bob = await team_with(app, client, Role.OWNER)
    await _enable_on_the_page(client)
    required = await post_form(
        client,
        "/settings/security/workspace",
        {"require_2fa": "1"},
        token_from="/settings/security",
    )
    assert required.status_code == 303
    # bob@, a co-owner without 2FA, may open Settings → Security (to turn 2FA on)...
    assert (await bob.get("/settings/security", headers=HTML)).status_code == 200
    # ...but neither the page's form nor the API lifts the requirement for him.
    by_page = await post_form(
        bob, "/settings/security/workspace", {"require_2fa": "0"}, token_from="/settings/security"
    )
    assert by_page.status_code in (403, 409)
    tokens = await login(bob, "bob@example.com")
    by_api = await bob.put(
        "/v1/workspace/security",
        headers={**bearer(tokens["access_token"]), "X-Workspace-ID": workspace_id},
        json={"require_2fa": False},
    )
    assert by_api.status_code in (403, 409)
    assert (await bob.get("/brands", headers=HTML)).status_code == 403  # still required
    async with transaction(app_runtime(app).session_factory) as session:
        workspace = await session.get(Workspace, uuid.UUID(workspace_id))
        assert workspace is not None and workspace.require_2fa


async def test_exempt_account_paths_are_matched_exactly() -> None:
    assert is_account_path("/settings/security") and is_account_path("/settings/data/delete")
    assert is_account_path("/invitations/abc") and is_account_path("/settings/data")
    for path in ("/settings/security/workspace", "/workspaces", "/workspace/x", "/logouts"):
        assert not is_account_path(path), path


async def test_the_requirement_card_offers_what_the_owner_can_do(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """An owner without 2FA is told to turn it on first instead of being offered a
    button that can only refuse; a personal workspace has no one to require it of."""
    await team_with(app, client, Role.MEMBER)  # ada@ looks at her team workspace
    without = text_of(await page(client, "/settings/security"))
    assert "turn it on for your account first" in without and "Require it" not in without
    await _enable_on_the_page(client)
    with_2fa = text_of(await page(client, "/settings/security"))
    assert "Require it" in with_2fa and "turn it on for your account first" not in with_2fa

    solo = second_client(app)
    await sign_up(solo, "solo@example.com")
    assert "Require two-factor authentication in" not in await page(solo, "/settings/security")


async def test_turning_2fa_on_signs_the_other_sessions_out(
    started_app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    other_browser = second_client(started_app)
    await sign_in(other_browser)
    api = await login(client, "ada@example.com")
    begun = await post_form(
        client,
        "/settings/security/2fa/begin",
        {"password": PASSWORD},
        token_from="/settings/security",
    )
    found = SECRET.search(begun.text)
    assert found
    confirmed = await post_form(
        client,
        "/settings/security/2fa/confirm",
        {"code": pyotp.TOTP(found.group(1)).at(utcnow() - timedelta(seconds=30))},
        token_from="/settings/security",
    )
    assert confirmed.status_code == 200
    assert "Your other sessions (2) were signed out" in text_of(confirmed.text)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": api["refresh_token"]})
    assert refreshed.status_code == 401
    signed_out = await other_browser.get("/settings/security", headers=HTML)
    assert signed_out.status_code == 303 and "/login" in signed_out.headers["location"]
    assert "is on" in text_of(await page(client, "/settings/security"))  # this one stays
    await other_browser.aclose()
