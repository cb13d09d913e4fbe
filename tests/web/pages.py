"""Helpers for page tests without a browser: sign up through the form, read a page's CSRF
token, post forms as a browser does (same-origin ``Origin`` header, hidden token)."""

from __future__ import annotations

import re
from html import unescape

import httpx

from tests.kit import PASSWORD

HTML = {"Accept": "text/html"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def origin(client: httpx.AsyncClient | httpx.Client) -> dict[str, str]:
    """The ``Origin`` header a browser sends with a form of this site."""
    return {"Origin": str(client.base_url).rstrip("/"), **HTML}


def csrf_token(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return unescape(found.group(1))


async def sign_up(
    client: httpx.AsyncClient,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    display_name: str = "",
) -> httpx.Response:
    """Create an account through ``/signup``; the client then holds its session cookie."""
    response = await client.post(
        "/signup",
        data={"email": email, "password": password, "display_name": display_name},
        headers=origin(client),
    )
    assert response.status_code == 303, response.text
    return response


async def sign_in(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> httpx.Response:
    """Sign in through ``/login`` (the client must have no session yet)."""
    client.cookies.clear()
    response = await client.post(
        "/login", data={"email": email, "password": password}, headers=origin(client)
    )
    assert response.status_code == 303, response.text
    return response


async def page(client: httpx.AsyncClient, path: str, status: int = 200) -> str:
    """A page's HTML, asserting its status."""
    response = await client.get(path, headers=HTML)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.text


async def post_form(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str | list[str]] | None = None,
    *,
    token_from: str = "/",
) -> httpx.Response:
    """Post a form as the browser does: with the CSRF token of the page ``token_from``."""
    token = csrf_token(await page(client, token_from))
    return await client.post(
        path, data={"csrf_token": token, **(data or {})}, headers=origin(client)
    )
