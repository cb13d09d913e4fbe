"""The flows that mail links, over the API with a real SMTP server: the address
confirmation at sign-up, the password reset, invitations and change notices. Mails are
sent by the app's own mail loop right after the request commits."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from echo_ai.auth.models import User
from echo_ai.db import transaction
from echo_ai.mail.listing import text_of
from echo_ai.mail.models import OutboundMail
from echo_ai.privacy.audit import Actor, AuditEvent
from echo_ai.workspaces import recovery
from echo_ai.workspaces.recovery import InvalidLink
from tests.kit import PASSWORD, app_runtime, bearer, login, login_response, register, wait_until
from tests.mail.smtp import SmtpServer
from tests.web.pages import origin

pytestmark = pytest.mark.usefixtures("backend")

LINK = re.compile(r"http://127\.0\.0\.1:8000(/[^\s\"<>]+)")


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def _mail_to(smtp: SmtpServer, to: str, subject: str) -> EmailMessage:
    """The latest message to ``to`` whose subject contains ``subject``, once it arrived."""

    def found() -> list[EmailMessage]:
        return [
            message
            for message in smtp.recorder.messages
            if message["To"] == to and subject in str(message["Subject"])
        ]

    await wait_until(lambda: bool(found()), message=f"no mail {subject!r} to {to}")
    return found()[-1]


def _link(message: EmailMessage) -> str:
    """The path (and query) of the link in the mail's text; the HTML part links there too."""
    match = LINK.search(_text(message))
    assert match is not None, _text(message)
    html = message.get_body(preferencelist=("html",))
    assert html is not None and match.group(0) in str(html.get_content())
    return match.group(1)


def _token(path: str) -> str:
    return path.rsplit("=", 1)[-1].rsplit("/", 1)[-1]


async def _actions(app: FastAPI) -> list[str]:
    async with transaction(app_runtime(app).session_factory) as session:
        return list(await session.scalars(select(AuditEvent.action)))


async def test_sign_up_mails_a_link_that_confirms_the_address(
    smtp: SmtpServer, client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await register(client, "ada@example.com")
    message = await _mail_to(smtp, "ada@example.com", "Confirm your e-mail address")
    path = _link(message)
    assert path.startswith("/verify-email?token=echo_ve_")
    headers = bearer((await login(client, "ada@example.com"))["access_token"])
    assert (await client.get("/auth/me", headers=headers)).json()["email_verified_at"] is None

    confirmed = await client.post("/auth/verify-email", json={"token": _token(path)})
    assert confirmed.status_code == 200, confirmed.text
    assert (await client.get("/auth/me", headers=headers)).json()["email_verified_at"]
    assert "auth.email_verified" in await _actions(started_app)
    again = await client.post("/auth/verify-email", json={"token": _token(path)})
    assert (again.status_code, again.json()["error"]["code"]) == (400, "invalid_token")
    # Confirmed: no new link.
    resend = await client.post("/auth/verify-email/resend", headers=headers)
    assert resend.status_code == 409


async def test_a_new_link_replaces_the_old_one(smtp: SmtpServer, client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    first = _token(_link(await _mail_to(smtp, "ada@example.com", "Confirm")))
    headers = bearer((await login(client, "ada@example.com"))["access_token"])
    resend = await client.post("/auth/verify-email/resend", headers=headers)
    assert resend.status_code == 202, resend.text
    await wait_until(lambda: len(smtp.recorder.messages) == 2)
    second = _token(_link(smtp.recorder.messages[-1]))
    assert second != first
    old = await client.post("/auth/verify-email", json={"token": first})
    assert old.status_code == 400
    assert (await client.post("/auth/verify-email", json={"token": second})).status_code == 200
    unauthenticated = await client.post("/auth/verify-email/resend")
    assert unauthenticated.status_code == 401


async def test_password_reset_end_to_end(
    smtp: SmtpServer, client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await register(client, "ada@example.com")
    session_tokens = await login(client, "ada@example.com")

    known = await client.post("/auth/password-reset", json={"email": "Ada@Example.com"})
    unknown = await client.post("/auth/password-reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    message = await _mail_to(smtp, "ada@example.com", "Reset your Echo AI password")
    path = _link(message)
    assert path.startswith("/reset-password?token=echo_pr_")
    assert "30 minutes" in _text(message)
    token = _token(path)

    weak = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "short"}
    )
    assert (weak.status_code, weak.json()["error"]["code"]) == (422, "weak_password")
    new_password = "a completely new passphrase"
    reset = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )
    assert reset.status_code == 200, reset.text  # the weak try left the token unused
    # Single use.
    reused = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "yet another one!"}
    )
    assert (reused.status_code, reused.json()["error"]["code"]) == (400, "invalid_token")
    # Every session ended; only the new password signs in.
    refreshed = await client.post(
        "/auth/refresh", json={"refresh_token": session_tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (await login_response(client, "ada@example.com", PASSWORD)).status_code == 401
    await login(client, "ada@example.com", new_password)
    notice = await _mail_to(smtp, "ada@example.com", "Your Echo AI account changed")
    assert "your password was reset" in _text(notice)
    assert not [m for m in smtp.recorder.messages if m["To"] == "nobody@example.com"]
    actions = await _actions(started_app)
    assert "auth.password_reset_requested" in actions and "auth.password_reset" in actions


async def test_a_reset_link_expires(started_app: FastAPI) -> None:
    runtime = app_runtime(started_app)
    settings = runtime.settings
    start = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    async with transaction(runtime.session_factory) as session:
        session.add(User(email="ada@example.com", password_hash="x"))
    tokens = []
    seen: set[object] = set()
    for _ in range(2):
        async with transaction(runtime.session_factory) as session:
            await recovery.request_password_reset(
                session, "ada@example.com", actor=Actor(), settings=settings, now=start
            )
        async with transaction(runtime.session_factory) as session:
            # Both mails are queued at ``start``: the new one is the one not seen before.
            [mail] = [m for m in await session.scalars(select(OutboundMail)) if m.id not in seen]
        seen.add(mail.id)
        match = re.search(r"token=(\S+)", text_of(mail, settings))
        assert match is not None
        tokens.append(match.group(1))
    old, latest = tokens
    too_late = start + timedelta(minutes=settings.privacy.reset_minutes)
    for token, when in ((old, start), (latest, too_late)):
        with pytest.raises(InvalidLink):
            async with transaction(runtime.session_factory) as session:
                await recovery.reset_password(
                    session,
                    token,
                    "a new passphrase!",
                    actor=Actor(),
                    settings=settings,
                    now=when,
                )
    async with transaction(runtime.session_factory) as session:
        user = await recovery.reset_password(
            session,
            latest,
            "a new passphrase!",
            actor=Actor(),
            settings=settings,
            now=too_late - timedelta(seconds=1),
        )
        assert user.email == "ada@example.com"


async def test_an_invitation_is_mailed_with_its_link(
    smtp: SmtpServer, client: httpx.AsyncClient
) -> None:
    await register(client, "owner@example.com")
    owner = bearer((await login(client, "owner@example.com"))["access_token"])
    created = await client.post("/v1/workspaces", headers=owner, json={"name": "Acme <Labs>"})
    assert created.status_code == 201, created.text
    team = {**owner, "X-Workspace-ID": created.json()["id"]}
    invited = await client.post(
        "/v1/invitations", headers=team, json={"email": "bob@example.com", "role": "member"}
    )
    assert invited.status_code == 201, invited.text
    message = await _mail_to(smtp, "bob@example.com", "invites you to Acme <Labs>")
    path = _link(message)
    assert path == f"/invitations/{invited.json()['token']}"
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "Acme &lt;Labs&gt;" in str(html.get_content())
    page = await client.get(path)
    assert page.status_code == 200 and "You are invited to a workspace" in page.text
    # The mailed token is the invitation's: Bob joins with it.
    await register(client, "bob@example.com")
    bob = bearer((await login(client, "bob@example.com"))["access_token"])
    accepted = await client.post(
        "/v1/invitations/accept", headers=bob, json={"token": _token(path)}
    )
    assert accepted.status_code in (200, 201), accepted.text


async def test_a_password_change_mails_a_notice(
    smtp: SmtpServer, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    headers = bearer((await login(client, "ada@example.com"))["access_token"])
    changed = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "another good passphrase"},
    )
    assert changed.status_code == 204, changed.text
    notice = await _mail_to(smtp, "ada@example.com", "Your Echo AI account changed")
    assert "your password was changed" in _text(notice)


async def test_a_reset_request_is_answered_before_any_of_its_work(
    client: httpx.AsyncClient, started_app: FastAPI, backend: str
) -> None:
    """The answer (of the API and of the page's form) does not wait for the look-up, the
    token or the mail, whose time would tell a registered address from another: with the
    database's writes held, the answers come, identical for both addresses; the work is
    done once the writes are released."""
    await register(client, "ada@example.com")
    runtime = app_runtime(started_app)
    service = started_app.state.service
    queued = (
        "SELECT count(*) FROM outbound_mails WHERE kind = 'reset_password'"
        " AND to_address IN ('ada@example.com', 'nobody@example.com')"
    )
    if backend == "sqlite":
        # Another process's write transaction: the job's inserts wait for it.
        holder = sqlite3.connect(runtime.settings.data_dir / "echo-ai.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        connection = await runtime.engine.connect()
        await connection.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
    try:
        known = await client.post("/auth/password-reset", json={"email": "ada@example.com"})
        unknown = await client.post("/auth/password-reset", json={"email": "nobody@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.content == unknown.content
        form = await client.post(
            "/forgot-password", data={"email": "ada@example.com"}, headers=origin(client)
        )
        assert form.status_code == 200 and "on its way" in form.text
        assert len(service.finishing) == 3  # the jobs wait on the held writes
        if backend == "sqlite":
            assert holder.execute(queued).fetchone() == (0,)
        else:
            assert await connection.scalar(text(queued)) == 0
    finally:
        if backend == "sqlite":
            holder.execute("ROLLBACK")
            holder.close()
        else:
            await connection.rollback()
            await connection.close()
    await wait_until(lambda: not service.finishing, message="the reset jobs never finished")
    async with transaction(runtime.session_factory) as session:
        mails = list(
            await session.scalars(
                select(OutboundMail.to_address).where(OutboundMail.kind == "reset_password")
            )
        )
    assert mails == ["ada@example.com", "ada@example.com"]
    assert "auth.password_reset_requested" in await _actions(started_app)


# the job is held with another process's SQLite write transaction
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_stopping_service_lets_a_reset_request_finish(
    client: httpx.AsyncClient, started_app: FastAPI, backend: str
) -> None:
    """The answer promised a mail: shutting down waits for the job instead of cancelling
    it (the batches' tasks are cancelled; they resume at the next start)."""
    await register(client, "ada@example.com")
    runtime = app_runtime(started_app)
    service = started_app.state.service
    holder = sqlite3.connect(runtime.settings.data_dir / "echo-ai.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        asked = await client.post("/auth/password-reset", json={"email": "ada@example.com"})
        assert asked.status_code == 202 and len(service.finishing) == 1
        stopping = asyncio.create_task(service.stop_background())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await stopping
    async with transaction(runtime.session_factory) as session:
        mailed = await session.scalar(
            select(OutboundMail.to_address).where(OutboundMail.kind == "reset_password")
        )
    assert mailed == "ada@example.com"
