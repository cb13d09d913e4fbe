"""Changing the e-mail address of an account: asked for over the API with the password
(and a 2FA code), confirmed with the link mailed to the new address; the notices to the
old one, the refusals, an address taken meanwhile, the links' single use and expiry, and
the export. Mails are read from the outbox (:func:`echo_ai.mail.listing.text_of`)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.accounts import email_change, export
from echo_ai.auth import twofactor
from echo_ai.auth.models import User
from echo_ai.auth.schemas import Registration
from echo_ai.db import transaction, utcnow
from echo_ai.mail.listing import text_of
from echo_ai.mail.models import OutboundMail
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.recovery import InvalidLink
from tests.kit import (
    PASSWORD,
    app_runtime,
    bearer,
    login,
    login_response,
    register,
    register_and_login,
)

pytestmark = pytest.mark.usefixtures("backend")

TOKEN = re.compile(r"/confirm-email\?token=(echo_ce_\S+)")


async def _mails(app: FastAPI, to: str, kind: str) -> list[str]:
    """The texts of the mails of ``kind`` to ``to``, oldest first."""
    runtime = app_runtime(app)
    async with transaction(runtime.session_factory) as session:
        mails = await session.scalars(
            select(OutboundMail)
            .where(OutboundMail.to_address == to, OutboundMail.kind == kind)
            .order_by(OutboundMail.created_at)
        )
        return [text_of(mail, runtime.settings) for mail in mails]


async def _token(app: FastAPI, to: str) -> str:
    """The token of the latest confirmation link mailed to ``to``."""
    texts = await _mails(app, to, "change_email")
    assert texts, f"no confirmation mail to {to}"
    match = TOKEN.search(texts[-1])
    assert match is not None, texts[-1]
    return match.group(1)


async def _audit(app: FastAPI, action: str) -> list[AuditEvent]:
    async with transaction(app_runtime(app).session_factory) as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def _ask(
    client: httpx.AsyncClient, headers: dict[str, str], new_email: str, **body: str
) -> httpx.Response:
    return await client.post(
        "/v1/account/email",
        headers=headers,
        json={"new_email": new_email, "password": PASSWORD, **body},
    )


async def test_an_address_changes_once_confirmed_from_the_new_one(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await register(client, "ada@example.com")
    tokens = await login(client, "ada@example.com")
    ada = bearer(tokens["access_token"])
    asked = await _ask(client, ada, "Ada.New@Example.com")
    assert asked.status_code == 202, asked.text
    assert asked.json()["pending_change"]["email"] == "ada.new@example.com"
    state = (await client.get("/v1/account/email", headers=ada)).json()
    assert state["email"] == "ada@example.com"
    assert state["pending_change"]["email"] == "ada.new@example.com"
    # Nothing changes before the confirmation.
    assert (await client.get("/auth/me", headers=ada)).json()["email"] == "ada@example.com"

    [link_mail] = await _mails(started_app, "ada.new@example.com", "change_email")
    assert "24 hours" in link_mail
    [requested] = await _mails(started_app, "ada@example.com", "notice")
    assert "ada.new@example.com was requested" in requested
    assert "If it was not, reset your password" in requested

    token = await _token(started_app, "ada.new@example.com")
    confirmed = await client.post("/v1/account/email/confirm", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert "ada.new@example.com" in confirmed.json()["message"]

    # The session stays valid; the new address is the account's, confirmed.
    me = await client.get("/auth/me", headers=ada)
    assert me.status_code == 200
    assert me.json()["email"] == "ada.new@example.com"
    assert me.json()["email_verified_at"] is not None
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    state = (await client.get("/v1/account/email", headers=ada)).json()
    assert state["pending_change"] is None
    # The personal workspace named after the old address takes the new one.
    workspaces = (await client.get("/v1/workspaces", headers=ada)).json()
    assert [w["name"] for w in workspaces if w["personal"]] == ["ada.new@example.com"]

    # Only the new address signs in.
    assert (await login_response(client, "ada@example.com")).status_code == 401
    await login(client, "ada.new@example.com")
    notices = await _mails(started_app, "ada@example.com", "notice")
    assert "its e-mail address was changed to ada.new@example.com" in notices[-1]

    # Single use.
    again = await client.post("/v1/account/email/confirm", json={"token": token})
    assert _error(again) == (400, "invalid_token")
    # The sign-up's confirmation link went to the old address: it no longer works.
    [sign_up_mail] = await _mails(started_app, "ada@example.com", "verify_email")
    old_link = re.search(r"token=(echo_ve_\S+)", sign_up_mail)
    assert old_link is not None
    stale = await client.post("/auth/verify-email", json={"token": old_link.group(1)})
    assert _error(stale) == (400, "invalid_token")
    [changed] = await _audit(started_app, "auth.email_changed")
    assert changed.details == {"from": "ada@example.com", "to": "ada.new@example.com"}
    [asked_event] = await _audit(started_app, "auth.email_change_requested")
    assert asked_event.details == {"to": "ada.new@example.com"}


async def test_a_request_is_confirmed_like_the_other_sensitive_changes(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    invalid = await _ask(client, ada, "not an address")
    assert invalid.status_code == 422
    same = await _ask(client, ada, "ADA@example.com")
    assert same.status_code == 409
    assert "must differ" in same.json()["error"]["message"]
    wrong = await _ask(client, ada, "ada.new@example.com", password="not the password")
    assert _error(wrong) == (401, "invalid_credentials")
    [failed] = await _audit(started_app, "auth.confirmation_failed")
    assert failed.details == {"purpose": "change_email", "reason": "invalid_credentials"}

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
    no_code = await _ask(client, ada, "ada.new@example.com")
    assert _error(no_code) == (401, "second_factor_required")
    code = pyotp.TOTP(enrolment.secret).now()
    assert (await _ask(client, ada, "ada.new@example.com", code=code)).status_code == 202
    assert await _mails(started_app, "ada.new@example.com", "change_email")
    # Five confirmations an hour per account (2FA, deletion and e-mail counted together).
    refused = await _ask(client, ada, "ada.other@example.com", code=code)
    assert refused.status_code == 401  # the 5th: the code was used already
    limited = await _ask(client, ada, "ada.other@example.com", code=code)
    assert limited.status_code == 429
    assert not await _mails(started_app, "ada.other@example.com", "change_email")


async def test_an_address_of_another_account_is_refused_at_confirmation_only(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    await register(client, "bob@example.com")
    taken = await _ask(client, ada, "bob@example.com")
    free = await _ask(client, ada, "carol@example.com")
    # The request tells nothing of whether the address has an account.
    assert taken.status_code == free.status_code == 202
    assert set(taken.json()) == set(free.json())
    assert await _mails(started_app, "bob@example.com", "change_email")
    bobs = await _token(started_app, "bob@example.com")
    carols = await _token(started_app, "carol@example.com")
    # Only the latest link works.
    assert _error(await client.post("/v1/account/email/confirm", json={"token": bobs})) == (
        400,
        "invalid_token",
    )

    # Carol signs up meanwhile: the change to her address is refused, nothing changes.
    await register(client, "carol@example.com")
    refused = await client.post("/v1/account/email/confirm", json={"token": carols})
    assert _error(refused) == (409, "email_taken")
    assert (
        "carol@example.com already belongs to another account"
        in (refused.json()["error"]["message"])
    )
    assert (await client.get("/auth/me", headers=ada)).json()["email"] == "ada@example.com"
    await login(client, "ada@example.com")
    await login(client, "carol@example.com")
    assert await _audit(started_app, "auth.email_changed") == []


async def test_links_expire_and_a_confirmed_change_spends_the_others(started_app: FastAPI) -> None:
    runtime = app_runtime(started_app)
    settings = runtime.settings
    keys = started_app.state.service.keys
    start = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    hours = timedelta(hours=settings.privacy.email_change_hours)
    await _register_directly(started_app, "ada@example.com")

    async def ask(new_email: str, now: datetime) -> str:
        async with transaction(runtime.session_factory) as session:
            user = await session.scalar(select(User).where(User.email == "ada@example.com"))
            assert user is not None
            pending = await email_change.request_change(
                session,
                user,
                new_email,
                password=PASSWORD,
                code=None,
                keys=keys,
                now=now,
                actor=Actor(),
                settings=settings,
            )
            assert pending.expires_at == now + hours
            mail = await session.scalar(
                select(OutboundMail).where(OutboundMail.to_address == new_email)
            )
            assert mail is not None
            match = TOKEN.search(text_of(mail, settings))
            assert match is not None
            return match.group(1)

    async def confirm(token: str, now: datetime) -> User:
        async with transaction(runtime.session_factory) as session:
            return await email_change.confirm_change(
                session, token, actor=Actor(), settings=settings, now=now
            )

    first = await ask("one@example.com", start)
    latest = await ask("two@example.com", start + timedelta(minutes=1))
    with pytest.raises(InvalidLink):
        await confirm(first, start + timedelta(minutes=2))
    with pytest.raises(InvalidLink):
        await confirm(latest, start + timedelta(minutes=1) + hours)
    user = await confirm(latest, start + hours)
    assert user.email == "two@example.com" and user.email_verified_at == start + hours
    async with transaction(runtime.session_factory) as session:
        user = await session.scalar(select(User).where(User.email == "two@example.com"))
        assert user is not None
        assert await email_change.pending_change(session, user, now=start + hours) is None
    with pytest.raises(InvalidLink):
        await confirm(latest, start + hours)
    with pytest.raises(InvalidLink):
        await confirm("echo_ce_unknown", start)


async def _register_directly(app: FastAPI, email: str) -> None:
    runtime = app_runtime(app)
    async with transaction(runtime.session_factory) as session:
        await workspaces.register(
            session,
            Registration(email=email, password=PASSWORD, accept_terms=True),
            actor=Actor(),
            settings=runtime.settings,
        )


async def test_the_export_holds_a_pending_change(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    assert (await _ask(client, ada, "ada.new@example.com")).status_code == 202
    async with transaction(app_runtime(started_app).session_factory) as session:
        user = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert user is not None
        user_id = user.id
    out = io.BytesIO()
    await export.write_zip(app_runtime(started_app).session_factory, user_id, out)
    account = json.loads(zipfile.ZipFile(out).read("account.json"))
    assert account["email"] == "ada@example.com"
    assert account["pending_email_change"]["email"] == "ada.new@example.com"
    assert set(account["pending_email_change"]) == {"email", "requested_at", "expires_at"}


async def test_one_new_address_is_sent_few_links_whichever_accounts_ask(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    victim = "victim@example.com"
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    eve = await register_and_login(client, "eve@example.com")
    asked = [await _ask(client, who, victim) for who in (ada, ada, bob)]
    assert [r.status_code for r in asked] == [202, 202, 202]
    # A fourth request for the same address is refused, from a fresh account too...
    limited = await _ask(client, eve, "VICTIM@example.com")
    assert _error(limited) == (429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert len(await _mails(started_app, victim, "change_email")) == 3
    # ...while another address is not held back.
    assert (await _ask(client, eve, "eve.new@example.com")).status_code == 202
