"""Forgetting an address, for the erasure of an account (:mod:`echo_ai.accounts`): the
mails to it (queued, sent or given up), the mails to others that name it (an invitation
names its inviter) and their files in the outbox folder. Mails hold the address, the
account's name and links; nothing of them is kept."""

from __future__ import annotations

import uuid
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import rows_changed
from echo_ai.mail import sender
from echo_ai.mail.models import OutboundMail

MAIL_ID_HEADER = "X-Echo-AI-Mail-ID"


def _mentions(path: Path, needle: str) -> tuple[bool, uuid.UUID | None]:
    """Whether the ``.eml`` file holds ``needle`` (any letter case, in its raw bytes or
    its decoded headers and parts), and the id of its mail."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return False, None
    message = message_from_bytes(raw, policy=policy.default)
    texts = [raw.decode("utf-8", "replace")]
    texts += [str(value) for value in message.values()]
    for part in message.walk():
        if not part.is_multipart():
            try:
                texts.append(str(part.get_content()))
            except (KeyError, LookupError, ValueError):
                continue
    try:
        mail_id = uuid.UUID(str(message.get(MAIL_ID_HEADER, "")))
    except ValueError:
        mail_id = None
    return any(needle in text.lower() for text in texts), mail_id


async def forget_address(session: AsyncSession, address: str, *, data_dir: Path) -> int:
    """Delete, in the caller's transaction, every mail to ``address`` or whose subject or
    bodies hold it (any letter case), and their ``.eml`` files; and every file of the
    outbox folder that holds it, with its mail (at once: a rolled-back erasure leaves rows
    whose files are gone, which only ``echo-ai outbox`` notices); how many mails."""
    needle = address.lower()
    naming = or_(
        func.lower(OutboundMail.to_address) == needle,
        func.lower(OutboundMail.subject).contains(needle, autoescape=True),
        func.lower(OutboundMail.text_body).contains(needle, autoescape=True),
        func.lower(OutboundMail.html_body).contains(needle, autoescape=True),
    )
    rows = list(
        await session.execute(
            select(OutboundMail.id, OutboundMail.to_address, OutboundMail.created_at).where(naming)
        )
    )
    folder = sender.outbox_folder(data_dir)
    for mail_id, to_address, created_at in rows:
        letter = sender.Letter(mail_id, to_address, "", "", None, created_at)
        (folder / sender.file_name(letter)).unlink(missing_ok=True)
    named_in_files: list[uuid.UUID] = []
    if folder.is_dir():
        for path in folder.glob("*.eml"):
            mentioned, named = _mentions(path, needle)
            if mentioned:
                path.unlink(missing_ok=True)
                if named is not None:
                    named_in_files.append(named)
    return await rows_changed(
        session,
        delete(OutboundMail).where(or_(naming, OutboundMail.id.in_(named_in_files))),
    )
