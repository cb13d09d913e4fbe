"""The mail queue and its sender, against a real SMTP server (aiosmtpd) and the outbox
folder: delivery, STARTTLS with a login, retries with back-off, giving up, claims."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.mail import compose, listing
from echo_ai.mail.delivery import backoff, deliver_due
from echo_ai.mail.models import BODY_GONE, MailStatus, OutboundMail
from echo_ai.mail.sender import outbox_dir
from echo_ai.schedules.scheduler import Scheduler
from tests.mail.smtp import SmtpServer, smtp_server

pytestmark = pytest.mark.usefixtures("backend")

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def _queue(runtime: Runtime, to: str = "ada@example.com", name: str = "Ada") -> OutboundMail:
    async with transaction(runtime.session_factory) as session:
        return await compose.enqueue(
            session,
            to=to,
            kind="verify_email",
            context={
                "name": name,
                "email": to,
                "link": "http://echo.test/verify-email?token=echo_ve_abc",
                "hours": 48,
            },
            settings=runtime.settings,
            now=NOW,
        )


async def _mail(runtime: Runtime, mail_id: object) -> OutboundMail:
    async with transaction(runtime.session_factory) as session:
        mail = await session.get(OutboundMail, mail_id)
        assert mail is not None
        return mail


def _use(runtime: Runtime, server: SmtpServer, security: str = "none") -> None:
    mail = runtime.settings.mail
    mail.smtp_host, mail.smtp_port = server.host, server.port
    mail.smtp_security = security  # type: ignore[assignment]
    mail.smtp_timeout_seconds = 10
    mail.from_address = "Echo AI <no-reply@echo.test>"


async def test_a_queued_mail_is_sent_with_its_text_and_html_parts(runtime: Runtime) -> None:
    with smtp_server() as server:
        _use(runtime, server)
        queued = await _queue(runtime, name="<b>Ada</b>")
        assert queued.status == MailStatus.QUEUED
        delivered = await deliver_due(runtime.session_factory, runtime.settings, NOW)
    assert delivered.sent == [str(queued.id)]
    [message] = server.recorder.messages
    assert server.recorder.recipients == [["ada@example.com"]]
    assert message["To"] == "ada@example.com"
    assert message["From"] == "Echo AI <no-reply@echo.test>"
    sent = await _mail(runtime, queued.id)  # the link is not kept once sent
    assert (sent.text_body, sent.html_body) == (BODY_GONE, None)
    assert message["Subject"] == "Confirm your e-mail address for Echo AI"
    text, html = _parts(message)
    assert "http://echo.test/verify-email?token=echo_ve_abc" in text
    assert "Hello <b>Ada</b>" in text  # plain text is not escaped
    assert 'href="http://echo.test/verify-email?token=echo_ve_abc"' in html
    assert "&lt;b&gt;Ada&lt;/b&gt;" in html and "<b>Ada</b>" not in html  # autoescaped
    sent = await _mail(runtime, queued.id)
    assert (sent.status, sent.attempts, sent.sent_at) == (MailStatus.SENT, 1, NOW)
    # Sent once: nothing is due any more.
    again = await deliver_due(runtime.session_factory, runtime.settings, NOW + timedelta(days=1))
    assert again.sent == [] and len(server.recorder.messages) == 1


async def test_starttls_and_a_login_with_the_password_from_a_file(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret-relay-password\n")
    monkeypatch.setenv("ECHO_AI_MAIL__SMTP_PASSWORD_FILE", str(secret))
    monkeypatch.delenv("ECHO_AI_MAIL__SMTP_PASSWORD", raising=False)
    with smtp_server(
        tls_directory=tmp_path, username="relay", password="s3cret-relay-password"
    ) as server:
        assert server.cert_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert_file))  # trust the test's CA
        _use(runtime, server, "starttls")
        runtime.settings.mail.smtp_host = "localhost"  # the certificate's name
        runtime.settings.mail.smtp_username = "relay"
        queued = await _queue(runtime)
        delivered = await deliver_due(runtime.session_factory, runtime.settings, NOW)
        assert delivered.sent == [str(queued.id)], (await _mail(runtime, queued.id)).last_error
        assert len(server.recorder.messages) == 1
        # A wrong password is refused by the server: the mail waits for a retry.
        secret.write_text("wrong")
        second = await _queue(runtime, to="bob@example.com")
        refused = await deliver_due(runtime.session_factory, runtime.settings, NOW)
    assert refused.retrying == [str(second.id)]
    assert "535" in ((await _mail(runtime, second.id)).last_error or "")


async def test_a_temporary_refusal_is_retried_after_a_back_off(runtime: Runtime) -> None:
    with smtp_server() as server:
        _use(runtime, server)
        server.recorder.refuse_next = 2
        queued = await _queue(runtime)
        first = await deliver_due(runtime.session_factory, runtime.settings, NOW)
        assert first.retrying == [str(queued.id)]
        mail = await _mail(runtime, queued.id)
        assert (mail.status, mail.attempts) == (MailStatus.QUEUED, 1)
        assert mail.last_error is not None and "451" in mail.last_error
        assert mail.next_attempt_at == NOW + backoff(1) == NOW + timedelta(minutes=1)
        # Not due yet: nothing is tried.
        early = await deliver_due(runtime.session_factory, runtime.settings, NOW)
        assert (early.sent, early.retrying) == ([], [])
        later = NOW + timedelta(minutes=1)
        second = await deliver_due(runtime.session_factory, runtime.settings, later)
        assert second.retrying == [str(queued.id)]
        assert (await _mail(runtime, queued.id)).next_attempt_at == later + timedelta(minutes=2)
        third = await deliver_due(
            runtime.session_factory, runtime.settings, later + timedelta(minutes=2)
        )
    assert third.sent == [str(queued.id)]
    assert server.recorder.refused == 2 and len(server.recorder.messages) == 1
    sent = await _mail(runtime, queued.id)
    assert (sent.status, sent.attempts) == (MailStatus.SENT, 3)


async def test_a_mail_is_given_up_after_max_attempts(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.settings.mail.max_attempts = 2
    with smtp_server() as server:
        _use(runtime, server)
        server.recorder.refuse_next = 100
        queued = await _queue(runtime)
        factory, settings = runtime.session_factory, runtime.settings
        await deliver_due(factory, settings, NOW)
        last = await deliver_due(factory, settings, NOW + timedelta(hours=1))
        assert last.failed == [str(queued.id)]
        after = await deliver_due(factory, settings, NOW + timedelta(days=9))
    assert after.retrying == [] and server.recorder.refused == 2
    failed = await _mail(runtime, queued.id)
    assert (failed.status, failed.attempts) == (MailStatus.FAILED, 2)
    assert failed.last_error is not None and "451" in failed.last_error
    assert "given up after 2 attempts" in caplog.text
    assert (failed.text_body, failed.html_body) == (BODY_GONE, None)


async def test_an_unreachable_server_is_an_error_retried_later(runtime: Runtime) -> None:
    with smtp_server() as server:
        pass  # stopped: its port refuses connections
    _use(runtime, server)
    queued = await _queue(runtime)
    delivered = await deliver_due(runtime.session_factory, runtime.settings, NOW)
    assert delivered.retrying == [str(queued.id)]
    assert (await _mail(runtime, queued.id)).last_error


async def test_concurrent_senders_send_each_mail_once(runtime: Runtime) -> None:
    with smtp_server() as server:
        _use(runtime, server)
        queued = [await _queue(runtime, to=f"user{n}@example.com") for n in range(30)]
        results = await asyncio.gather(
            *(deliver_due(runtime.session_factory, runtime.settings, NOW) for _ in range(3))
        )
    sent = [mail_id for result in results for mail_id in result.sent]
    assert sorted(sent) == sorted(str(mail.id) for mail in queued)
    recipients = [to for tos in server.recorder.recipients for to in tos]
    assert sorted(recipients) == sorted(f"user{n}@example.com" for n in range(30))


async def test_without_smtp_mails_are_written_to_the_private_outbox_folder(
    runtime: Runtime,
) -> None:
    assert not runtime.settings.mail.smtp_enabled
    queued = await _queue(runtime)
    delivered = await deliver_due(runtime.session_factory, runtime.settings, NOW)
    assert delivered.sent == [str(queued.id)]
    folder = outbox_dir(runtime.settings)
    [file] = list(folder.iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert file.name.endswith(f"{queued.id}.eml")
    message = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "ada@example.com"
    text, html = _parts(message)
    assert "token=echo_ve_abc" in text and "token=echo_ve_abc" in html
    row = await _mail(runtime, queued.id)
    assert (row.status, row.text_body, row.html_body) == (MailStatus.SENT, BODY_GONE, None)
    async with transaction(runtime.session_factory) as session:
        shown = await listing.one(session, runtime.settings, str(queued.id))
    assert "token=echo_ve_abc" in shown.text  # read from the .eml file
    file.unlink()
    async with transaction(runtime.session_factory) as session:
        shown = await listing.one(session, runtime.settings, str(queued.id))
    assert shown.text == BODY_GONE


async def test_every_scheduler_tick_sends_the_due_mail(runtime: Runtime) -> None:
    with smtp_server() as server:
        _use(runtime, server)
        server.recorder.refuse_next = 1
        queued = await _queue(runtime)
        scheduler = Scheduler.of(runtime)
        first = await scheduler.tick(now=NOW)
        assert "mail delivery" in first.each_tick
        assert (await _mail(runtime, queued.id)).status == MailStatus.QUEUED
        await scheduler.tick(now=NOW + timedelta(minutes=1))
    assert (await _mail(runtime, queued.id)).status == MailStatus.SENT
    assert len(server.recorder.messages) == 1


async def test_change_notice_mentions_the_change(runtime: Runtime) -> None:
    from echo_ai.mail.notices import notify_change

    async with transaction(runtime.session_factory) as session:
        await notify_change(session, "ada@example.com", "2fa_enabled", runtime.settings, now=NOW)
    async with transaction(runtime.session_factory) as session:
        [mail] = list(await session.scalars(select(OutboundMail)))
    assert mail.kind == "notice" and mail.to_address == "ada@example.com"
    assert "two-factor authentication was turned on" in mail.subject
    assert "2026-11-27 06:00 UTC" in mail.text_body
    assert re.search(r"http://127\.0\.0\.1:8000/forgot-password", mail.text_body)


async def test_the_retention_pass_deletes_outbox_files_past_retention(runtime: Runtime) -> None:
    import os

    from echo_ai.accounts import retention
    from echo_ai.schedules.scheduler import DAILY_TASKS

    queued = [await _queue(runtime, to=f"user{n}@example.com") for n in range(2)]
    await deliver_due(runtime.session_factory, runtime.settings, NOW)
    folder = outbox_dir(runtime.settings)
    old, recent = (next(folder.glob(f"*{mail.id}.eml")) for mail in queued)
    days = runtime.settings.privacy.mail_retention_days
    written = (NOW - timedelta(days=days, seconds=1)).timestamp()
    os.utime(old, (written, written))
    os.utime(recent, (NOW.timestamp(), NOW.timestamp()))
    dry = await retention.apply(
        runtime.session_factory, now=NOW, settings=runtime.settings, dry_run=True
    )
    assert dry.outbox_files_deleted == 1 and len(list(folder.iterdir())) == 2
    done = await retention.apply(runtime.session_factory, now=NOW, settings=runtime.settings)
    assert done.counts()["outbox_files_deleted"] == 1
    assert [path.name for path in folder.iterdir()] == [recent.name]
    # One daily pass does it: no separate task.
    assert [task.name for task in DAILY_TASKS if "outbox" in task.name] == []
    assert "retention" in (await Scheduler.of(runtime).tick(now=NOW)).daily


async def test_forgetting_an_address_deletes_its_mails_and_files(runtime: Runtime) -> None:
    from echo_ai.mail.erasure import forget_address

    mine = [await _queue(runtime), await _queue(runtime)]
    other = await _queue(runtime, to="bob@example.com")
    await deliver_due(runtime.session_factory, runtime.settings, NOW)
    mine.append(await _queue(runtime))  # still queued: no file yet
    async with transaction(runtime.session_factory) as session:
        assert (
            await forget_address(session, "ada@example.com", data_dir=runtime.settings.data_dir)
            == 3
        )
    async with transaction(runtime.session_factory) as session:
        left = list(await session.scalars(select(OutboundMail.to_address)))
    assert left == ["bob@example.com"]
    files = [path.name for path in outbox_dir(runtime.settings).iterdir()]
    assert files == [f"{NOW:%Y%m%dT%H%M%S}-{other.id}.eml"]
