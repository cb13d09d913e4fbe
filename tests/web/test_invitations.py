"""Accepting an invitation from its one-time link: the whole flow from the owner's
settings page to the invitee's switcher, and the refusals."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote, urlsplit

import httpx
from fastapi import FastAPI

from echo_ai.config import Settings
from tests.web.pages import HTML, csrf_token, origin, page, post_form, sign_up
from tests.web.workspace_pages import new_team, second_client, text_of, without_csrf


async def _shown_link(
    client: httpx.AsyncClient, email: str, role: str = "member", **headers: str
) -> tuple[str, str]:
    """The invitation link the members page shows once, and that page."""
    token = csrf_token(await page(client, "/settings/members"))
    response = await client.post(
        "/settings/members/invite",
        data={"csrf_token": token, "email": email, "role": role},
        headers={**origin(client), **headers},
    )
    assert response.status_code == 200, response.text
    found = re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', response.text)
    assert found, "no invitation link shown"
    assert 'data-copy="invitation-link"' in response.text
    return unescape(found.group(1)), response.text


async def _invite(client: httpx.AsyncClient, email: str, role: str = "member") -> str:
    """The path of the invitation link the members page shows once."""
    link, html = await _shown_link(client, email, role)
    # The test client's made-up host is no address the configuration vouches for.
    assert link.startswith("/invitations/echo_inv_") and 'id="link-relative"' in html
    return urlsplit(link).path


async def test_owner_invites_and_the_invitee_signs_up_through_the_link(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    await new_team(client, "Acme")
    link = await _invite(client, "Bob@Example.com", "member")
    pending = await page(client, "/settings/members")
    assert "bob@example.com" in pending and "Pending invitations" in pending
    assert link not in pending  # the link is shown once only

    bob = second_client(app)
    html = await page(bob, link)
    signup = f"/signup?next={quote(link)}"
    assert f'href="{signup}"' in html and f'href="/login?next={quote(link)}"' in html
    form = await page(bob, signup)
    assert f'value="{link}"' in form
    response = await bob.post(
        "/signup",
        data={
            "email": "bob@example.com",
            "password": "correct horse battery staple",
            "next": link,
            "accept_terms": "on",
        },
        headers=origin(bob),
    )
    assert response.status_code == 303 and response.headers["location"] == link
    html = await page(bob, link)
    assert "Accept the invitation" in html and "bob@example.com" in html
    response = await post_form(bob, link, token_from=link)
    assert response.status_code == 303 and response.headers["location"] == "/"

    overview = await page(bob, "/")
    switcher = overview[overview.index('id="workspace-switch"') : overview.index("</select>")]
    assert re.search(r"<option value=\"[^\"]+\" selected>Acme · member</option>", switcher)
    assert "(personal)" in switcher
    members = text_of(await page(client, "/settings/members"))
    assert "bob@example.com" in members and "No pending invitation." in members

    again = await post_form(bob, link, token_from=link)
    assert again.status_code == 404
    assert "no such invitation" in again.text


async def test_a_signed_in_user_is_sent_back_after_signing_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    await new_team(client)
    bob = second_client(app)
    await sign_up(bob, "bob@example.com")
    bob.cookies.clear()  # signed out
    link = await _invite(client, "bob@example.com", "viewer")
    response = await bob.get(link, headers=HTML)
    assert response.status_code == 200 and "Sign in" in response.text
    response = await bob.post(
        "/login",
        data={
            "email": "bob@example.com",
            "password": "correct horse battery staple",
            "next": link,
            "accept_terms": "on",
        },
        headers=origin(bob),
    )
    assert response.status_code == 303 and response.headers["location"] == link
    assert (await post_form(bob, link, token_from=link)).status_code == 303
    assert "Acme · viewer" in await page(bob, "/")


async def test_refusals(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_up(client)
    await new_team(client)
    link = await _invite(client, "bob@example.com")
    eve = second_client(app)
    await sign_up(eve, "eve@example.com")
    wrong = await post_form(eve, link, token_from=link)
    assert wrong.status_code == 404 and "another email address" in wrong.text
    unknown = await post_form(eve, "/invitations/echo_inv_nothing", token_from=link)
    assert unknown.status_code == 404
    assert await without_csrf(eve, link) == 403
    signed_out = await second_client(app).post(link, data={}, headers=origin(eve))
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login?next=")
    # The owner is already a member (and not the invited address).
    own = await post_form(client, link, token_from=link)
    assert own.status_code == 404


async def test_the_link_names_the_site_only_from_the_configuration(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Never from the ``Host`` header alone: a spoofed one would send the invitee (and
    their token) to another site."""
    await sign_up(client)
    await new_team(client)
    spoofed = {"Host": "evil.example", "Origin": "http://evil.example"}
    link, html = await _shown_link(client, "bob@example.com", **spoofed)
    assert link.startswith("/invitations/echo_inv_") and "evil.example" not in html

    # A loopback address (echo-ai serve's default) is this machine's own.
    link, html = await _shown_link(
        client, "bob@example.com", Host="127.0.0.1:8000", Origin="http://127.0.0.1:8000"
    )
    assert link.startswith("http://127.0.0.1:8000/invitations/echo_inv_")
    assert 'id="link-relative"' not in html

    # An origin the configuration allows.
    settings.server.allowed_origins = ["http://testserver"]
    link, _ = await _shown_link(client, "bob@example.com")
    assert link.startswith("http://testserver/invitations/echo_inv_")
    link, _ = await _shown_link(client, "bob@example.com", **spoofed)
    assert link.startswith("/invitations/echo_inv_")

    # The public URL, whatever the request says.
    settings.server.public_url = "http://echo.example.com/"
    for headers in ({}, spoofed):
        link, _ = await _shown_link(client, "bob@example.com", **headers)
        assert link.startswith("http://echo.example.com/invitations/echo_inv_"), link
