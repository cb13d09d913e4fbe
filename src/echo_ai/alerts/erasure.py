"""Forgetting an address in the alerts, for the erasure of an account
(:mod:`echo_ai.accounts.erasure`, which may not import this layer: its callers pass
:func:`forget_address`): the address leaves every rule that mails it, and the e-mail
deliveries to it (their log) are deleted; the alerts themselves name no address. A
workspace deleted with the account takes its rules and alerts with it (the database
cascades)."""

from __future__ import annotations

from sqlalchemy import Text, cast, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.alerts.models import AlertDelivery, AlertRule, Channel


async def forget_address(session: AsyncSession, address: str) -> None:
    """Remove ``address`` (any letter case) from every rule's ``email_to`` and delete the
    e-mail deliveries to it."""
    wanted = address.lower()
    rules = await session.scalars(
        select(AlertRule).where(
            func.lower(cast(AlertRule.email_to, Text)).contains(wanted, autoescape=True)
        )
    )
    for rule in rules:
        kept = [to for to in rule.email_to if to.lower() != wanted]
        if kept != rule.email_to:
            rule.email_to = kept
    await session.execute(
        delete(AlertDelivery).where(
            AlertDelivery.channel == Channel.EMAIL, func.lower(AlertDelivery.target) == wanted
        )
    )
    await session.flush()
