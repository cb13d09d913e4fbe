"""The e-mail change pages without a browser: the form of Settings → Security (CSRF, an
invalid address beside its field, the 2FA code asked for when 2FA is on) and the
confirmation page of the mailed link (an address taken meanwhile, a bad link)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.auth import twofactor
from echo_ai.auth.models import User
from echo_ai.db import transaction, utcnow
from echo_ai.mail.listing import text_of
from echo_ai.mail.models import OutboundMail
from tests.kit import PASSWORD, app_runtime
from tests.web.pages import origin, page, post_form, sign_up
from tests.web.pages import text_of as page_text

pytestmark = pytest.mark.usefixtures("backend")

SECURITY = "/settings/security"


async def _confirm_path(app: FastAPI, to: str) -> str:
    async with transaction(app_runtime(app).session_factory) as session:
        mail = await session.scalar(
            select(OutboundMail).where(
                OutboundMail.to_address == to, OutboundMail.kind == "change_email"
            )
        )
    assert mail is not None, f"no confirmation mail to {to}"
    found = re.search(
        r"http://127\.0\.0\.1:8000(/confirm-email\S+)", text_of(mail, app_runtime(app).settings)
    )
    assert found is not None
    return found.group(1)


async def test_the_form_checks_csrf_the_address_and_the_second_factor(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client)
    settings_page = await page(client, SECURITY)
    assert 'action="/settings/security/email"' in settings_page
    assert (
        'name="code"'
        not in settings_page.split('action="/settings/security/email"')[1].split("</form>")[0]
    )

    forged = await client.post(
        "/settings/security/email",
        data={"new_email": "ada.new@example.com", "password": PASSWORD},
        headers=origin(client),
    )
    assert forged.status_code == 403
    invalid = await post_form(
        client,
        "/settings/security/email",
        {"new_email": "not-an-address", "password": PASSWORD},
        token_from=SECURITY,
    )
    assert invalid.status_code == 422
    assert 'id="e-email-new_email"' in invalid.text
    assert 'value="not-an-address"' in invalid.text

    keys = started_app.state.service.keys
    async with transaction(app_runtime(started_app).session_factory) as session:
        user = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert user is not None
        enrolment = twofactor.begin(user, keys)
        now = utcnow()
        await twofactor.confirm(
            session,
            user,
            pyotp.TOTP(enrolment.secret).at(now - timedelta(seconds=30)),
            keys=keys,
            now=now,
        )
    form = (await page(client, SECURITY)).split('action="/settings/security/email"')[1]
    assert 'name="code"' in form.split("</form>")[0]
    no_code = await post_form(
        client,
        "/settings/security/email",
        {"new_email": "ada.new@example.com", "password": PASSWORD},
        token_from=SECURITY,
    )
    assert no_code.status_code == 401
    assert "Your address was not changed" in page_text(no_code.text)
    done = await post_form(
        client,
        "/settings/security/email",
        {
            "new_email": "ada.new@example.com",
            "password": PASSWORD,
            "code": pyotp.TOTP(enrolment.secret).now(),
        },
        token_from=SECURITY,
    )
    assert done.status_code == 303, done.text[-2000:]
    shown = page_text(await page(client, done.headers["location"]))
    assert "A confirmation was sent to ada.new@example.com" in shown
    assert await _confirm_path(started_app, "ada.new@example.com")


async def test_the_confirmation_page_refuses_a_taken_address_and_a_bad_link(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client)
    asked = await post_form(
        client,
        "/settings/security/email",
        {"new_email": "bob@example.com", "password": PASSWORD},
        token_from=SECURITY,
    )
    assert asked.status_code == 303
    path = await _confirm_path(started_app, "bob@example.com")
    client.cookies.clear()  # the link may be opened anywhere, signed in or not
    await sign_up(client, "bob@example.com")
    client.cookies.clear()
    form = await page(client, path)
    token = re.search(r'name="token" value="([^"]+)"', form)
    assert token is not None
    taken = await client.post(
        "/confirm-email", data={"token": token.group(1)}, headers=origin(client)
    )
    assert taken.status_code == 409
    assert "The address bob@example.com already belongs to another account" in page_text(taken.text)
    bad = await client.post(
        "/confirm-email", data={"token": "echo_ce_nope"}, headers=origin(client)
    )
    assert bad.status_code == 400
    assert "invalid, expired or already used" in page_text(bad.text)
    empty = await client.post("/confirm-email", data={}, headers=origin(client))
    assert empty.status_code == 400
    cross_site = await client.post(
        "/confirm-email",
        data={"token": token.group(1)},
        headers={"Origin": "https://evil.example", "Accept": "text/html"},
    )
    assert cross_site.status_code == 403


async def test_the_form_says_when_the_new_address_was_asked_too_often(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client)
    asked = [
        await post_form(
            client,
            "/settings/security/email",
            {"new_email": "busy@example.com", "password": PASSWORD},
            token_from=SECURITY,
        )
        for _ in range(4)
    ]
    assert [r.status_code for r in asked] == [303, 303, 303, 429]
    refused = asked[-1]
    assert int(refused.headers["Retry-After"]) > 0
    shown = page_text(refused.text)
    assert "Your address was not changed. Too many attempts. Try again in" in shown
    assert 'value="busy@example.com"' in refused.text
