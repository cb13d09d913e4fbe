"""Account use cases by mailed link: confirming the address given at sign-up, and
resetting a forgotten password (:mod:`echo_ai.auth.email_tokens` for the tokens,
:mod:`echo_ai.mail` for the mails, queued in the caller's transaction). Audited in the
user's personal workspace, like the other account events.

A reset request is answered at once, the same way whether or not the address has an
account: :func:`queue_password_reset` leaves the look-up, the token, the mail and the
audit to a job that starts once the request's (otherwise empty) transaction has
committed, so neither the answer nor its timing tells whether an address is registered
(``bench/bench_password_reset.py`` measures it). A reset ends every session of the user
and mails them a change notice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.auth import email_tokens
from echo_ai.auth import service as auth_service
from echo_ai.auth.models import User
from echo_ai.config import Settings
from echo_ai.db import after_commit, retry_transient, transaction, utcnow
from echo_ai.errors import AppError, Conflict
from echo_ai.mail import compose, notices
from echo_ai.privacy.audit import Action, Actor, ActorKind
from echo_ai.workspaces.personal import record_account_event

log = logging.getLogger(__name__)


class InvalidLink(AppError):
    """A mailed token that is unknown, expired, already used or for another address."""

    status_code = 400
    code = "invalid_token"

    def __init__(self) -> None:
        super().__init__("this link is invalid, expired or already used: ask for a new one")


def verify_link(settings: Settings, token: str) -> str:
    return f"{compose.base_url(settings)}/verify-email?token={token}"


def reset_link(settings: Settings, token: str) -> str:
    return f"{compose.base_url(settings)}/reset-password?token={token}"


async def send_verification(
    session: AsyncSession, user: User, *, settings: Settings, now: datetime | None = None
) -> None:
    """Mail ``user`` a link confirming their address (valid ``privacy.verification_hours``;
    earlier links stop working)."""
    now = now or utcnow()
    hours = settings.privacy.verification_hours
    token = await email_tokens.issue(
        session, user, email_tokens.VERIFY_EMAIL, ttl=timedelta(hours=hours), now=now
    )
    await compose.enqueue(
        session,
        to=user.email,
        kind="verify_email",
        context={
            "name": user.display_name,
            "email": user.email,
            "link": verify_link(settings, token),
            "hours": hours,
        },
        settings=settings,
        now=now,
    )


async def resend_verification(
    session: AsyncSession, user: User, *, settings: Settings, now: datetime | None = None
) -> None:
    """A new verification link for a signed-in user (:class:`Conflict` if the address is
    already confirmed)."""
    if user.email_verified_at is not None:
        raise Conflict("this e-mail address is already confirmed")
    await send_verification(session, user, settings=settings, now=now)


async def verify_email(
    session: AsyncSession, token: str, *, actor: Actor, now: datetime | None = None
) -> User:
    """Mark the address the token was sent to as confirmed (:class:`InvalidLink`)."""
    now = now or utcnow()
    user = await email_tokens.consume(session, token, email_tokens.VERIFY_EMAIL, now=now)
    if user is None:
        raise InvalidLink
    if user.email_verified_at is None:
        user.email_verified_at = now
    await session.flush()
    await record_account_event(session, Action.EMAIL_VERIFIED, user, as_user(actor, user))
    return user


def as_user(actor: Actor, user: User) -> Actor:
    """The user a mailed link vouched for as the actor of a request made before sign-in."""
    if actor.kind == ActorKind.ANONYMOUS:
        return Actor(kind=ActorKind.USER, user_id=user.id, ip=actor.ip, user_agent=actor.user_agent)
    return actor


def queue_password_reset(
    session: AsyncSession,
    email: str,
    *,
    actor: Actor,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Answer a reset request without doing it: :func:`request_password_reset` runs in a
    transaction of its own once the caller's has committed (after the API's response has
    been sent; a stopping service lets it finish), whether or not the address has an
    account. Its failures are logged, never shown: the answer has already gone."""

    async def job() -> None:
        async def attempt() -> None:
            async with transaction(session_factory) as work:
                await request_password_reset(work, email, actor=actor, settings=settings)

        try:
            await retry_transient(attempt, what="password reset request")
        except Exception:
            log.exception("a password reset request could not be handled")

    after_commit(session, job, finish=True)


async def request_password_reset(
    session: AsyncSession,
    email: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """Mail a reset link (valid ``privacy.reset_minutes``, single use) if an active
    account has this (normalised) address; nothing otherwise. Callers answering a
    request use :func:`queue_password_reset`, which runs this after the answer."""
    now = now or utcnow()
    minutes = settings.privacy.reset_minutes
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return
    token = await email_tokens.issue(
        session, user, email_tokens.RESET_PASSWORD, ttl=timedelta(minutes=minutes), now=now
    )
    await compose.enqueue(
        session,
        to=user.email,
        kind="reset_password",
        context={"email": user.email, "link": reset_link(settings, token), "minutes": minutes},
        settings=settings,
        now=now,
    )
    await record_account_event(session, Action.PASSWORD_RESET_REQUESTED, user, as_user(actor, user))


async def reset_password(
    session: AsyncSession,
    token: str,
    new_password: str,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime | None = None,
) -> User:
    """Set the password with a reset token (:class:`InvalidLink`; the password policy of
    sign-up, :class:`~echo_ai.auth.service.WeakPassword`, leaves the token unused); every
    session of the user ends, and they get a change notice."""
    now = now or utcnow()
    auth_service.check_policy(new_password)  # first: a refused password leaves the token
    user = await email_tokens.consume(session, token, email_tokens.RESET_PASSWORD, now=now)
    if user is None:
        raise InvalidLink
    await auth_service.reset_password(session, user, new_password, now=now)
    # The link proved the address: an unconfirmed one is confirmed now.
    if user.email_verified_at is None:
        user.email_verified_at = now
    await record_account_event(session, Action.PASSWORD_RESET, user, as_user(actor, user))
    await notices.notify_change(session, user.email, "password_reset", settings, now=now)
    return user
