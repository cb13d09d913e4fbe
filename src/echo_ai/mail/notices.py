"""Change notices: a mail to the account's address when its password, e-mail address or
second factor changed, so that its owner notices a change they did not make."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.config import Settings
from echo_ai.db import utcnow
from echo_ai.mail.compose import base_url, enqueue
from echo_ai.mail.models import OutboundMail

CHANGES = {
    "password": "your password was changed",
    "password_reset": "your password was reset with a link sent to this address",
    "2fa_enabled": "two-factor authentication was turned on (any other sign-in was ended)",
    "2fa_disabled": "two-factor authentication was turned off",
    "2fa_reset": (
        "two-factor authentication was turned off by an operator on request (its recovery"
        " codes deleted, every session signed out): sign in and turn it on again"
    ),
    "recovery_codes": "new two-factor recovery codes were made (the old ones stop working)",
}
"""The known changes (``what``) and how the notice says them; another ``what`` is said
as given."""


async def notify_change(
    session: AsyncSession,
    user_email: str,
    what: str,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> OutboundMail:
    """Queue a change notice to ``user_email`` in the caller's transaction; ``what`` is a
    key of :data:`CHANGES` (``password``, ``2fa_enabled``...) or a short phrase."""
    now = now or utcnow()
    change = CHANGES.get(what, what)
    return await enqueue(
        session,
        to=user_email,
        kind="notice",
        context={
            "email": user_email,
            "change": change,
            "when": now.strftime("%Y-%m-%d %H:%M UTC"),
            "reset_link": f"{base_url(settings)}/forgot-password",
        },
        settings=settings,
        now=now,
    )
