"""Sending one mail: over SMTP (:func:`send_smtp`, ``aiosmtplib``) when ``mail.smtp_host``
is set, otherwise written as an ``.eml`` file into the outbox folder
(``<data_dir>/outbox``, 0700, each file 0600: they hold links that sign in or reset a
password), where ``echo-ai outbox`` lists them.

The SMTP password is ``mail.smtp_password`` or the contents of the file named by
``ECHO_AI_MAIL__SMTP_PASSWORD_FILE``. ``smtp_security``: ``starttls`` requires the upgrade
(a server that does not offer it is an error, not a plain-text fallback), ``tls`` connects
with TLS, ``none`` sends in the clear (a local relay only). Certificates are verified.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from echo_ai.config import MailSettings, Settings, read_secret
from echo_ai.security.files import PRIVATE_FILE, private_directory

OUTBOX_FOLDER = "outbox"


@dataclass(frozen=True)
class Letter:
    """What is sent of one queued mail (read from its row, used outside the transaction)."""

    id: uuid.UUID
    to: str
    subject: str
    text: str
    html: str | None
    created_at: datetime


def outbox_folder(data_dir: Path) -> Path:
    """The outbox folder of a data directory."""
    return data_dir / OUTBOX_FOLDER


def outbox_dir(settings: Settings) -> Path:
    return outbox_folder(settings.data_dir)


def build_message(letter: Letter, from_address: str) -> EmailMessage:
    """A MIME message: ``multipart/alternative`` with the text and HTML parts."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = letter.to
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(letter.created_at)
    message["Message-ID"] = make_msgid(idstring=letter.id.hex)
    message["X-Echo-AI-Mail-ID"] = str(letter.id)
    message.set_content(letter.text)
    if letter.html is not None:
        message.add_alternative(letter.html, subtype="html")
    return message


def smtp_password(settings: MailSettings) -> str | None:
    return settings.smtp_password or read_secret("ECHO_AI_MAIL__SMTP_PASSWORD")


async def send_smtp(message: EmailMessage, settings: MailSettings) -> None:
    """Hand the message to the SMTP server; raises on any refusal or failure (the caller
    retries later)."""
    import aiosmtplib

    assert settings.smtp_host is not None
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=smtp_password(settings) if settings.smtp_username else None,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        timeout=settings.smtp_timeout_seconds,
    )


def file_name(letter: Letter) -> str:
    return f"{letter.created_at:%Y%m%dT%H%M%S}-{letter.id}.eml"


def write_outbox(message: EmailMessage, letter: Letter, directory: Path) -> Path:
    """Write the message into the outbox folder (created 0700), the file 0600; writing
    the same mail again replaces its file."""
    private_directory(directory)
    path = directory / file_name(letter)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out:
        out.write(message.as_bytes())
    return path


async def send(letter: Letter, settings: Settings) -> None:
    """Send one mail the configured way (SMTP, or the outbox folder)."""
    message = build_message(letter, settings.mail.from_address)
    if settings.mail.smtp_enabled:
        await send_smtp(message, settings.mail)
    else:
        write_outbox(message, letter, outbox_dir(settings))


def purge_outbox(directory: Path, *, older_than: datetime, dry_run: bool = False) -> int:
    """Delete the outbox's ``.eml`` files last written before ``older_than`` (``dry_run``:
    only count them); how many."""
    if not directory.is_dir():
        return 0
    cutoff = older_than.timestamp()
    removed = 0
    for path in directory.glob("*.eml"):
        try:
            if path.stat().st_mtime < cutoff:
                if not dry_run:
                    path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another process deleted it
    return removed
