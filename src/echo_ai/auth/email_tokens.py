"""Single-use tokens sent by e-mail (address verification, password reset, e-mail
change): random strings whose SHA-256 alone is stored
(:class:`~echo_ai.auth.models.UserToken`), valid until ``expires_at`` and used at most
once (claimed with a conditional UPDATE, so two requests with one token cannot both
succeed)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth.models import User, UserToken
from echo_ai.db import rows_changed
from echo_ai.security.refresh import hash_token

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"
CHANGE_EMAIL = "change_email"

PREFIXES = {VERIFY_EMAIL: "echo_ve_", RESET_PASSWORD: "echo_pr_", CHANGE_EMAIL: "echo_ce_"}
"""Let secret scanners spot leaked tokens and tell token kinds apart."""

_RANDOM_BYTES = 32  # 256 bits


async def expire_pending(session: AsyncSession, user: User, purpose: str, *, now: datetime) -> None:
    """The unused, unexpired tokens of ``purpose`` of ``user`` stop working."""
    await session.execute(
        update(UserToken)
        .where(
            UserToken.user_id == user.id,
            UserToken.purpose == purpose,
            UserToken.used_at.is_(None),
            UserToken.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


async def issue(
    session: AsyncSession,
    user: User,
    purpose: str,
    *,
    ttl: timedelta,
    now: datetime,
    email: str | None = None,
) -> str:
    """A new token of ``purpose`` for ``user``, sent to ``email`` (default: their current
    address); the unused earlier ones of that purpose stop working, so only the latest
    link works."""
    await expire_pending(session, user, purpose, now=now)
    token = PREFIXES[purpose] + secrets.token_urlsafe(_RANDOM_BYTES)
    session.add(
        UserToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(token),
            email=email or user.email,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return token


async def pending(
    session: AsyncSession, user: User, purpose: str, *, now: datetime
) -> UserToken | None:
    """The latest unused, unexpired token of ``purpose`` of ``user`` (its hash only)."""
    found: UserToken | None = await session.scalar(
        select(UserToken)
        .where(
            UserToken.user_id == user.id,
            UserToken.purpose == purpose,
            UserToken.used_at.is_(None),
            UserToken.expires_at > now,
        )
        .order_by(UserToken.created_at.desc())
        .limit(1)
    )
    return found


async def find(
    session: AsyncSession, token: str, purpose: str, *, now: datetime
) -> UserToken | None:
    """The row of a token of ``purpose`` that is still good (unused, unexpired), without
    using it up; ``None`` otherwise."""
    row = await session.scalar(
        select(UserToken).where(
            UserToken.token_hash == hash_token(token), UserToken.purpose == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


async def use_up(session: AsyncSession, row: UserToken, *, now: datetime) -> bool:
    """Mark a token found by :func:`find` used; ``False`` if another request used it
    first."""
    claimed = await rows_changed(
        session,
        update(UserToken)
        .where(UserToken.id == row.id, UserToken.used_at.is_(None))
        .values(used_at=now),
    )
    return claimed == 1


async def consume(session: AsyncSession, token: str, purpose: str, *, now: datetime) -> User | None:
    """Use the token up; its user, or ``None`` if it is unknown, of another purpose,
    expired, already used, or was sent to an address the account no longer has."""
    row = await find(session, token, purpose, now=now)
    if row is None or not await use_up(session, row, now=now):
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active or user.email != row.email:
        return None
    return user
