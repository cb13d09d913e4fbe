"""Forgetting an address: the mails to it (queued, sent or given up) and their files in the
outbox folder, for the erasure of an account (:mod:`echo_ai.accounts`). Mails hold the
address, the account's name and links; nothing of them is kept."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import rows_changed
from echo_ai.mail import sender
from echo_ai.mail.models import OutboundMail


async def forget_address(session: AsyncSession, address: str, *, data_dir: Path) -> int:
    """Delete every mail to ``address`` in the caller's transaction, and their ``.eml``
    files (at once: a rolled-back erasure leaves rows whose files are gone, which only
    ``echo-ai outbox`` notices); how many mails."""
    rows = list(
        await session.execute(
            select(OutboundMail.id, OutboundMail.to_address, OutboundMail.created_at).where(
                func.lower(OutboundMail.to_address) == address.lower()
            )
        )
    )
    folder = data_dir / sender.OUTBOX_FOLDER
    for mail_id, to_address, created_at in rows:
        letter = sender.Letter(mail_id, to_address, "", "", None, created_at)
        (folder / sender.file_name(letter)).unlink(missing_ok=True)
    return await rows_changed(
        session,
        delete(OutboundMail).where(func.lower(OutboundMail.to_address) == address.lower()),
    )
