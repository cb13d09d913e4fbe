"""Consent records (GDPR Art. 7: a controller must be able to show consent was given):
the terms and the privacy policy accepted at sign-up and again whenever a newer version
is configured (``privacy.terms_version`` / ``privacy.privacy_version``), and the separate,
withdrawable marketing opt-in. Each change is a new ``consents`` row (time, address,
user agent; never updated: the latest of a kind is the current state) and an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth.models import Consent, User
from echo_ai.auth.schemas import Registration
from echo_ai.config import PrivacySettings, Settings
from echo_ai.errors import Conflict
from echo_ai.privacy.audit import MAX_USER_AGENT, Action, Actor, ActorKind
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.personal import record_account_event

TERMS = "terms"
PRIVACY = "privacy"
MARKETING = "marketing"


@dataclass(frozen=True)
class ConsentNeeded:
    """The versions to accept before going on (a newer one than the user accepted)."""

    terms_version: str
    privacy_version: str


def _row(
    user: User, kind: str, version: str | None, granted: bool, now: datetime, actor: Actor
) -> Consent:
    return Consent(
        user_id=user.id,
        kind=kind,
        version=version,
        granted=granted,
        created_at=now,
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:MAX_USER_AGENT] or None,
    )


async def accept(
    session: AsyncSession,
    user: User,
    *,
    privacy: PrivacySettings,
    now: datetime,
    actor: Actor,
    terms_version: str | None = None,
    privacy_version: str | None = None,
) -> None:
    """Record that ``user`` accepts the current terms and privacy policy. Versions named by
    the caller must be the current ones (409 otherwise: the user read another text)."""
    for named, current in (
        (terms_version, privacy.terms_version),
        (privacy_version, privacy.privacy_version),
    ):
        if named is not None and named != current:
            raise Conflict(f"version {named!r} is not the current one ({current!r})")
    session.add(_row(user, TERMS, privacy.terms_version, True, now, actor))
    session.add(_row(user, PRIVACY, privacy.privacy_version, True, now, actor))
    await session.flush()
    await record_account_event(
        session,
        Action.CONSENT_GIVEN,
        user,
        actor,
        {"terms_version": privacy.terms_version, "privacy_version": privacy.privacy_version},
    )


async def set_marketing(
    session: AsyncSession, user: User, opt_in: bool, *, now: datetime, actor: Actor
) -> None:
    """Opt in to (or withdraw from) marketing e-mail: a consent row and an audit event."""
    user.marketing_opt_in = opt_in
    session.add(_row(user, MARKETING, None, opt_in, now, actor))
    await session.flush()
    await record_account_event(
        session, Action.MARKETING_CONSENT_CHANGED, user, actor, {"opt_in": opt_in}
    )


async def sign_up(
    session: AsyncSession, data: Registration, *, actor: Actor, settings: Settings, now: datetime
) -> User | None:
    """Sign up (:func:`echo_ai.workspaces.service.register`: the user and their personal
    workspace; ``None`` when the address had an account) with the consents given with it,
    recorded in the new user's name (a sign-up without accepting the terms is refused
    before: see :class:`echo_ai.auth.schemas.Registration`)."""
    user = await workspaces.register(session, data, actor=actor, settings=settings)
    if user is None:
        return None
    as_user = replace(actor, kind=ActorKind.USER, user_id=user.id)
    await accept(session, user, privacy=settings.privacy, now=now, actor=as_user)
    if data.marketing_opt_in:
        await set_marketing(session, user, True, now=now, actor=as_user)
    return user


async def _latest_version(session: AsyncSession, user: User, kind: str) -> str | None:
    return await session.scalar(
        select(Consent.version)
        .where(Consent.user_id == user.id, Consent.kind == kind, Consent.granted.is_(True))
        .order_by(Consent.created_at.desc(), Consent.id.desc())
        .limit(1)
    )


async def needed(
    session: AsyncSession, user: User, *, privacy: PrivacySettings
) -> ConsentNeeded | None:
    """What the user must accept now, or None (the configured versions already were)."""
    terms = await _latest_version(session, user, TERMS)
    policy = await _latest_version(session, user, PRIVACY)
    if terms == privacy.terms_version and policy == privacy.privacy_version:
        return None
    return ConsentNeeded(
        terms_version=privacy.terms_version, privacy_version=privacy.privacy_version
    )


async def history(session: AsyncSession, user: User) -> list[Consent]:
    """Every consent the user gave or withdrew, oldest first."""
    found = await session.scalars(
        select(Consent).where(Consent.user_id == user.id).order_by(Consent.created_at, Consent.kind)
    )
    return list(found)
