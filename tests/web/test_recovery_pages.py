"""The pages of the mailed links, without a browser: "Forgot password?" from the sign-in
page, the reset form, the address confirmation and the overview's notice."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.db import transaction
from echo_ai.mail.listing import text_of
from echo_ai.mail.models import OutboundMail
from tests.kit import PASSWORD, app_runtime, wait_until
from tests.web.pages import HTML, csrf_token, origin, page, sign_in, sign_up

pytestmark = pytest.mark.usefixtures("backend")


async def _link(app: FastAPI, to: str, kind: str) -> str:
    """The path of the link in the latest mail of ``kind`` to ``to`` (waiting for it: a
    reset link is made after the answer)."""
    mail: OutboundMail | None = None

    async def queued() -> bool:
        nonlocal mail
        async with transaction(app_runtime(app).session_factory) as session:
            mail = await session.scalar(
                select(OutboundMail)
                .where(OutboundMail.to_address == to, OutboundMail.kind == kind)
                .order_by(OutboundMail.created_at.desc())
                .limit(1)
            )
        return mail is not None

    await wait_until(queued, message=f"no {kind} mail to {to}")
    assert mail is not None
    found = re.search(r"http://127\.0\.0\.1:8000(/\S+)", text_of(mail, app_runtime(app).settings))
    assert found is not None
    return found.group(1)


async def test_forgot_password_then_a_new_password_from_the_mailed_link(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client)
    client.cookies.clear()
    login = await page(client, "/login")
    assert 'href="/forgot-password"' in login
    assert "Forgot your password?" in await page(client, "/forgot-password")

    asked = await client.post(
        "/forgot-password", data={"email": "ada@example.com"}, headers=origin(client)
    )
    unknown = await client.post(
        "/forgot-password", data={"email": "nobody@example.com"}, headers=origin(client)
    )
    assert asked.status_code == unknown.status_code == 200
    assert "a link to choose a new password is on its way" in asked.text
    assert asked.text.replace("nobody", "ada") == unknown.text.replace("nobody", "ada")

    path = await _link(started_app, "ada@example.com", "reset_password")
    form = await page(client, path)
    token = re.search(r'name="token" value="([^"]+)"', form)
    assert token is not None
    weak = await client.post(
        "/reset-password",
        data={"token": token.group(1), "new_password": "short"},
        headers=origin(client),
    )
    assert weak.status_code == 422
    done = await client.post(
        "/reset-password",
        data={"token": token.group(1), "new_password": "my new passphrase"},
        headers=origin(client),
    )
    assert done.status_code == 303, done.text[-3000:]
    assert done.headers["location"] == "/login?reset=1"
    assert "sign in with the new one" in await page(client, "/login?reset=1")
    again = await client.post(
        "/reset-password",
        data={"token": token.group(1), "new_password": "my other passphrase"},
        headers=origin(client),
    )
    assert again.status_code == 400 and "invalid, expired or already used" in again.text
    await sign_in(client, "ada@example.com", "my new passphrase")
    refused = await client.post(
        "/login", data={"email": "ada@example.com", "password": PASSWORD}, headers=origin(client)
    )
    assert refused.status_code == 401


async def test_the_address_is_confirmed_from_the_mailed_link(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client)
    overview = await page(client, "/")
    assert "Please confirm your e-mail address" in overview
    # A new link from the overview's notice; the first one stops working.
    first = await _link(started_app, "ada@example.com", "verify_email")
    resent = await client.post(
        "/verify-email/resend",
        data={"csrf_token": csrf_token(overview)},
        headers=origin(client),
    )
    assert resent.status_code == 200 and "A new confirmation link is on its way" in resent.text
    second = await _link(started_app, "ada@example.com", "verify_email")
    assert second != first

    # Opening the link changes nothing until the button is pressed (mail scanners open it).
    shown = await page(client, second)
    assert "Confirm my address" in shown
    assert "Please confirm your e-mail address" in await page(client, "/")
    token = second.split("token=", 1)[1]
    csrf = csrf_token(shown)  # signed in: the session's forms carry its token
    stale = await client.post(
        "/verify-email",
        data={"token": first.split("token=", 1)[1], "csrf_token": csrf},
        headers=origin(client),
    )
    assert stale.status_code == 400
    confirmed = await client.post(
        "/verify-email", data={"token": token, "csrf_token": csrf}, headers=origin(client)
    )
    assert confirmed.status_code == 200 and "ada@example.com is confirmed" in confirmed.text
    assert "Please confirm your e-mail address" not in await page(client, "/")


async def test_the_forms_refuse_other_origins(client: httpx.AsyncClient) -> None:
    foreign = {"Origin": "https://evil.example", **HTML}
    for path, data in (
        ("/forgot-password", {"email": "ada@example.com"}),
        ("/reset-password", {"token": "x", "new_password": "my new passphrase"}),
        ("/verify-email", {"token": "x"}),
    ):
        response = await client.post(path, data=data, headers=foreign)
        assert response.status_code == 403, path
