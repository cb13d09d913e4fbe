"""Helpers for page tests without a browser: sign up through the form, read a page's CSRF
token, post forms as a browser does (same-origin ``Origin`` header, hidden token), read
what a page shows (its text, a form's fields, the error beside an input)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

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
        data={
            "email": email,
            "password": password,
            "display_name": display_name,
            "accept_terms": "on",
        },
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


def text_of(html: str) -> str:
    """The page's text, tags dropped, entities decoded and spaces collapsed (what a reader
    sees, for assertions on wording)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


class _FormReader(HTMLParser):
    """The successful controls of the form posting to ``action``, as a browser sends
    them without a button (Enter in a text box): textareas with CRLF line ends."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = found.get("action") == self.action
        if not self.inside or ("name" not in found and tag != "option"):
            return
        if tag == "input" and found.get("type", "text") not in ("submit", "button"):
            if found.get("type") not in ("checkbox", "radio") or "checked" in found:
                self.fields.append((found["name"], found.get("value", "on")))
        elif tag == "textarea":
            self._textarea, self._text = found["name"], []
        elif tag == "select":
            self._select, self._options = found["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((found.get("value", ""), "selected" in found))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text).removeprefix("\n")
            self.fields.append((self._textarea, text.replace("\n", "\r\n")))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            self.fields.append((self._select, (chosen or [self._options[0][0]])[0]))
            self._select = None


def form_data(html: str, action: str) -> dict[str, Any]:
    """What the browser sends for the form posting to ``action`` (repeated names as
    lists; the CSRF token included)."""
    reader = _FormReader(action)
    reader.feed(html)
    data: dict[str, Any] = {}
    for name, value in reader.fields:
        if name in data:
            data[name] = [*(data[name] if isinstance(data[name], list) else [data[name]]), value]
        else:
            data[name] = value
    assert data, f"no form posting to {action}"
    return data


def error_beside(html: str, name: str) -> str:
    """The message shown beside the brand editor's input ``name``."""
    input_id = "f-" + name.replace(".", "-")
    found = re.search(rf'id="e-{re.escape(input_id)}">([^<]+)</p>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


def case_rule(html: str, name: str) -> str:
    """The option chosen for a name's capital letters (``""``, ``"1"`` or ``"0"``)."""
    select = re.search(rf'<select id="[^"]+" name="{re.escape(name)}".*?</select>', html, re.S)
    assert select, f"no {name}"
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    assert chosen
    return chosen.group(1)
