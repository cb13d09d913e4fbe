"""A user's sessions: one per refresh-token family (one sign-in, API or browser), alive
while its latest token is unrevoked, unused and unexpired. Listed with the device (a
short name parsed from the user agent), the latest address, when it began and when it
was last refreshed; revoking one revokes its whole family at once (refresh and browser
cookie alike, see :func:`echo_ai.auth.service.session_user`)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from echo_ai.auth.models import RefreshToken
from echo_ai.db import rows_changed


@dataclass(frozen=True)
class SessionInfo:
    id: uuid.UUID
    """The family id."""
    device: str
    user_agent: str | None
    ip: str | None
    created_at: datetime
    last_used_at: datetime
    """The latest sign-in or token refresh of the session."""
    expires_at: datetime


_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/")),
    ("curl", re.compile(r"^curl/")),
    ("Python", re.compile(r"python-requests|python-httpx|aiohttp|Python-urllib")),
)
_SYSTEMS = (
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux|X11")),
)


def device_name(user_agent: str | None) -> str:
    """A short, human name for a user agent ("Chrome on Linux"); "Unknown device" if it
    says nothing we recognise. Deliberately simple: a label, not a fingerprint."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


def _live(user_id: uuid.UUID, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        RefreshToken.user_id == user_id,
        RefreshToken.revoked_at.is_(None),
        RefreshToken.used_at.is_(None),
        RefreshToken.expires_at > now,
    )


async def list_sessions(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime
) -> list[SessionInfo]:
    """The user's live sessions, most recently used first."""
    heads = list(await session.scalars(select(RefreshToken).where(*_live(user_id, now))))
    if not heads:
        return []
    rows = await session.execute(
        select(RefreshToken.family_id, func.min(RefreshToken.created_at))
        .where(RefreshToken.family_id.in_([head.family_id for head in heads]))
        .group_by(RefreshToken.family_id)
    )
    started: dict[uuid.UUID, datetime] = {}
    for family, first in rows:
        started[family] = first
    found = [
        SessionInfo(
            id=head.family_id,
            device=device_name(head.user_agent),
            user_agent=head.user_agent,
            ip=head.ip,
            created_at=started.get(head.family_id, head.created_at),
            last_used_at=head.created_at,
            expires_at=head.expires_at,
        )
        for head in heads
    ]
    return sorted(found, key=lambda info: info.last_used_at, reverse=True)


async def revoke(
    session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID, *, now: datetime
) -> bool:
    """Revoke one of the user's sessions; False if the user has no such live session."""
    changed = await rows_changed(
        session,
        update(RefreshToken)
        .where(*_live(user_id, now), RefreshToken.family_id == family_id)
        .values(revoked_at=now),
    )
    return changed > 0


async def revoke_all(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime, keep: uuid.UUID | None = None
) -> int:
    """Revoke every session of the user but ``keep``; the number revoked."""
    ended = await list_sessions(session, user_id, now=now)
    families = [info.id for info in ended if info.id != keep]
    if families:
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.user_id == user_id,
                RefreshToken.family_id.in_(families),
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(families)
