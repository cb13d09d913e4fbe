"""Forgetting an address: the mails to it (queued, sent or given up) and their files in the
outbox folder, for the erasure of an account (:mod:`echo_ai.accounts`). Mails hold the
address, the account's name and links; nothing of them is kept."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.config import Settings
from echo_ai.db import rows_changed
from echo_ai.mail import sender
from echo_ai.mail.models import OutboundMail


async def forget_address(session: AsyncSession, address: str, settings: Settings) -> int:
    """Delete every mail to ``address`` in the caller's transaction, and their ``.eml``
    files (at once: a rolled-back erasure leaves rows whose files are gone, which only
    ``echo-ai outbox`` notices); how many mails."""
    rows = list(
        await session.execute(
            select(OutboundMail.id, OutboundMail.created_at).where(
                OutboundMail.to_address == address
            )
        )
    )
    folder = sender.outbox_dir(settings)
    for mail_id, created_at in rows:
        letter = sender.Letter(mail_id, address, "", "", None, created_at)
        (folder / sender.file_name(letter)).unlink(missing_ok=True)
    return await rows_changed(
        session, delete(OutboundMail).where(OutboundMail.to_address == address)
    )
