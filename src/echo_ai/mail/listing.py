"""What ``echo-ai outbox`` shows: the mails of the queue, newest first, and one mail."""

from __future__ import annotations

import uuid
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.config import Settings
from echo_ai.errors import NotFound
from echo_ai.mail import sender
from echo_ai.mail.models import BODY_GONE, MailStatus, OutboundMail


class MailOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    to: str
    kind: str
    subject: str
    status: MailStatus
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    file: str | None
    """The ``.eml`` file in the outbox folder, when the mail was written there."""


class MailText(MailOut):
    text: str


def _path(mail: OutboundMail, settings: Settings) -> Path:
    letter = sender.Letter(mail.id, "", "", "", None, mail.created_at)
    return sender.outbox_dir(settings) / sender.file_name(letter)


def _file(mail: OutboundMail, settings: Settings) -> str | None:
    path = _path(mail, settings)
    return str(path) if path.exists() else None


def text_of(mail: OutboundMail, settings: Settings) -> str:
    """The mail's plain text: from its row while queued, else from its ``.eml`` file in
    the outbox folder (a sent mail's row keeps no body); :data:`BODY_GONE` when neither."""
    if mail.text_body != BODY_GONE:
        return mail.text_body
    try:
        message = message_from_bytes(_path(mail, settings).read_bytes(), policy=policy.default)
    except FileNotFoundError:
        return BODY_GONE
    body = (
        message.get_body(preferencelist=("plain",)) if isinstance(message, EmailMessage) else None
    )
    return str(body.get_content()) if body is not None else BODY_GONE


def _out(mail: OutboundMail, settings: Settings) -> MailOut:
    return MailOut(
        id=mail.id,
        created_at=mail.created_at,
        to=mail.to_address,
        kind=mail.kind,
        subject=mail.subject,
        status=mail.status,
        attempts=mail.attempts,
        next_attempt_at=mail.next_attempt_at,
        sent_at=mail.sent_at,
        last_error=mail.last_error,
        file=_file(mail, settings),
    )


async def recent(session: AsyncSession, settings: Settings, *, limit: int) -> list[MailOut]:
    """The latest ``limit`` mails of the queue (queued, sent and given up), newest first."""
    rows = await session.scalars(
        select(OutboundMail)
        .order_by(OutboundMail.created_at.desc(), OutboundMail.id.desc())
        .limit(limit)
    )
    return [_out(mail, settings) for mail in rows]


async def one(session: AsyncSession, settings: Settings, reference: str) -> MailText:
    """The mail with this id, or the only one whose id starts with ``reference``."""
    try:
        mail = await session.get(OutboundMail, uuid.UUID(reference))
    except ValueError:
        prefix = reference.strip().lower()
        matches = (
            [
                mail
                for mail in await session.scalars(select(OutboundMail))
                if str(mail.id).startswith(prefix)
            ]
            if len(prefix) >= 4
            else []
        )
        mail = matches[0] if len(matches) == 1 else None
    if mail is None:
        raise NotFound(f"no mail with id {reference} (a unique prefix of 4+ characters works)")
    return MailText(**_out(mail, settings).model_dump(), text=text_of(mail, settings))
