"""Authentication: users, login, token refresh with rotation, logout, password change.

Plain functions over a session; the request owns the transaction. Refresh tokens rotate
on every use; presenting a used one again means it was stolen (or replayed), so its
whole family (every token descended from the same login) is revoked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.auth import sessions
from echo_ai.auth.models import RefreshToken, User
from echo_ai.auth.schemas import Credentials, PasswordChange, Registration, TokenPair
from echo_ai.db import dialect_insert, rows_changed, utcnow
from echo_ai.errors import AppError, Conflict
from echo_ai.security import passwords
from echo_ai.security.credentials import Refusal
from echo_ai.security.refresh import hash_token, new_refresh_token
from echo_ai.security.tokens import TokenSigner

SESSION_CLAIM = "sid"
MAX_USER_AGENT = 300
MAX_IP = 64


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"

    def __init__(self, message: str = "email or password is incorrect") -> None:
        super().__init__(message)


class WeakPassword(AppError):
    status_code = 422
    code = "weak_password"


def _check_policy(password: str) -> None:
    try:
        passwords.validate_password(password)
    except ValueError as error:
        raise WeakPassword(str(error)) from None


async def _user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def create_user(session: AsyncSession, data: Registration) -> User | None:
    """Create the user; ``None`` if the email is taken, also by another sign-up at the
    same moment (between the check and the insert: the insert then does nothing).

    The password is hashed in both cases, so the caller can answer both the same way and
    neither the response nor its timing tells whether an address has an account.
    """
    _check_policy(data.password)
    password_hash = passwords.hash_password(data.password)
    if await _user_by_email(session, data.email) is not None:
        return None
    # ON CONFLICT DO NOTHING rather than an error to catch: no savepoint (on SQLite the
    # release of one that opened the transaction would commit the user alone).
    user_id = await session.scalar(
        dialect_insert(session)(User)
        .values(email=data.email, password_hash=password_hash, display_name=data.display_name)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(User.id)
    )
    if user_id is None:
        return None
    return await session.get_one(User, user_id)


async def authenticate(session: AsyncSession, data: Credentials) -> User:
    """The user with these credentials, or :class:`InvalidCredentials` (same for both
    an unknown email and a wrong password, with a dummy hash check to match timing)."""
    user = await _user_by_email(session, data.email)
    if user is None or not user.is_active:
        passwords.verify_dummy(data.password)
        raise InvalidCredentials
    if not passwords.verify_password(user.password_hash, data.password):
        raise InvalidCredentials
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(data.password)
    user.last_login_at = utcnow()
    await session.flush()
    return user


@dataclass(frozen=True)
class TokenSettings:
    signer: TokenSigner
    refresh_ttl: timedelta
    access_ttl: timedelta


async def issue_tokens(
    session: AsyncSession,
    user: User,
    *,
    tokens: TokenSettings,
    family_id: uuid.UUID | None = None,
    user_agent: str | None = None,
    ip: str | None = None,
) -> TokenPair:
    """A new access token and refresh token (a new family unless ``family_id`` is given),
    remembering the device (``user_agent``) and address (``ip``) of the session."""
    refresh, refresh_hash = new_refresh_token()
    now = utcnow()
    family_id = family_id or uuid.uuid4()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=refresh_hash,
            created_at=now,
            expires_at=now + tokens.refresh_ttl,
            user_agent=(user_agent or "")[:MAX_USER_AGENT] or None,
            ip=(ip or "")[:MAX_IP] or None,
        )
    )
    await session.flush()
    return TokenPair(
        # "sid": the session (family) the token belongs to, so the sessions API can tell
        # the caller's own session.
        access_token=tokens.signer.issue(str(user.id), extra={SESSION_CLAIM: str(family_id)}),
        expires_in=int(tokens.access_ttl.total_seconds()),
        refresh_token=refresh,
    )


async def _refresh_row(session: AsyncSession, token: str) -> RefreshToken | None:
    return await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
    )


async def refresh(
    session: AsyncSession, token: str, *, tokens: TokenSettings, ip: str | None = None
) -> TokenPair | Refusal:
    """Rotate a refresh token; a :class:`Refusal` if it is unknown (``UNKNOWN``), or
    expired, revoked or reused (``ENDED``). The new token keeps the session's device and
    takes the caller's address (``ip``: the latest one is shown on the sessions page).

    A reused token revokes its family, and that revocation must be committed: callers
    return their error response instead of raising, so the transaction commits.
    """
    now = utcnow()
    row = await _refresh_row(session, token)
    if row is None:
        return Refusal.UNKNOWN
    if row.revoked_at is not None or row.expires_at <= now:
        return Refusal.ENDED
    claimed = await rows_changed(
        session,
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now),
    )
    if claimed != 1:
        await revoke_family(session, row.family_id, now=now)
        return Refusal.ENDED
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        return Refusal.ENDED
    return await issue_tokens(
        session,
        user,
        tokens=tokens,
        family_id=row.family_id,
        user_agent=row.user_agent,
        ip=ip or row.ip,
    )


async def revoke_family(
    session: AsyncSession, family_id: uuid.UUID, *, now: datetime | None = None
) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


async def session_user(session: AsyncSession, token: str) -> tuple[User, uuid.UUID] | Refusal:
    """The active user of a browser session (a refresh token held in a cookie) and the
    session's family id; a :class:`Refusal` unless the token is unrevoked, not yet
    rotated and unexpired (``UNKNOWN`` if no session ever had it)."""
    row = await _refresh_row(session, token)
    if row is None:
        return Refusal.UNKNOWN
    if row.revoked_at is not None or row.used_at is not None or row.expires_at <= utcnow():
        return Refusal.ENDED
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        return Refusal.ENDED
    return user, row.family_id


async def logout(session: AsyncSession, token: str) -> None:
    """Revoke the session the refresh token belongs to (unknown tokens are ignored)."""
    row = await _refresh_row(session, token)
    if row is not None:
        await revoke_family(session, row.family_id)


async def change_password(session: AsyncSession, user: User, data: PasswordChange) -> None:
    """Check the current password, set the new one and end every session of the user."""
    if not passwords.verify_password(user.password_hash, data.current_password):
        raise InvalidCredentials
    if data.new_password == data.current_password:
        raise Conflict("the new password must differ from the current one")
    await reset_password(session, user, data.new_password)


async def reset_password(
    session: AsyncSession, user: User, new_password: str, *, now: datetime | None = None
) -> None:
    """Set a new password without the current one (a mailed reset link vouched for the
    user; policy as at sign-up) and end every session of the user."""
    _check_policy(new_password)
    user.password_hash = passwords.hash_password(new_password)
    await sessions.revoke_all(session, user.id, now=now or utcnow())
    await session.flush()


def check_policy(password: str) -> None:
    """:class:`WeakPassword` unless ``password`` meets the policy of sign-up."""
    _check_policy(password)
