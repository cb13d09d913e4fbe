"""Finding the account an operator's request names."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth.models import User
from echo_ai.errors import NotFound


async def by_email(session: AsyncSession, email: str) -> User:
    """The live account with this address (any letter case); erased ones are not found:
    their address is gone."""
    user = await session.scalar(
        select(User).where(
            func.lower(User.email) == email.strip().lower(), User.deleted_at.is_(None)
        )
    )
    if user is None:
        raise NotFound(f"no account with the e-mail address {email.strip()}")
    return user
