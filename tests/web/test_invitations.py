"""Accepting an invitation from its one-time link: the whole flow from the owner's
settings page to the invitee's switcher, and the refusals."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote, urlsplit

import httpx
from fastapi import FastAPI

from tests.web.pages import HTML, origin, page, post_form, sign_up
from tests.web.workspace_pages import new_team, second_client, text_of, without_csrf


async def _invite(client: httpx.AsyncClient, email: str, role: str = "member") -> str:
    """The path of the invitation link the members page shows once."""
    response = await post_form(
        client,
        "/settings/members/invite",
        {"email": email, "role": role},
        token_from="/settings/members",
    )
    assert response.status_code == 200, response.text
    found = re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', response.text)
    assert found, "no invitation link shown"
    link = unescape(found.group(1))
    assert link.startswith("http://testserver/invitations/echo_inv_")
    assert 'data-copy="invitation-link"' in response.text
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
        data={"email": "bob@example.com", "password": "correct horse battery staple", "next": link},
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
        data={"email": "bob@example.com", "password": "correct horse battery staple", "next": link},
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
