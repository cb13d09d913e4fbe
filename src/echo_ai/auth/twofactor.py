"""Two-factor authentication: TOTP (RFC 6238, ``pyotp``) with one-time recovery codes.

Enabling is two steps: :func:`begin` stores a new secret (encrypted with the credential
keys of the server's secret, like the provider keys: it survives a secret-key rotation) and
returns it with its ``otpauth://`` URI for an authenticator app; :func:`confirm` checks a
first code from the app, turns 2FA on and returns the recovery codes, shown once (only
their hashes are stored). :func:`check` is the one check of a second factor (at sign-in,
and before an account is deleted or 2FA turned off): a current code, never accepted twice
(the last time step used is kept), or an unused recovery code, which is then used up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from echo_ai.auth.models import RecoveryCode, User
from echo_ai.credentials.vault import Unreadable, Vault
from echo_ai.db import rows_changed
from echo_ai.errors import AppError, Conflict
from echo_ai.security.keys import KeyRing

ISSUER = "Echo AI"
RECOVERY_CODES = 10
VALID_WINDOW = 1
"""Codes of the previous and next 30-second step are accepted too (clocks drift)."""


class SecondFactorRequired(AppError):
    status_code = 401
    code = "second_factor_required"

    def __init__(self) -> None:
        super().__init__("this account uses two-factor authentication: give a current code")


class InvalidSecondFactor(AppError):
    status_code = 401
    code = "invalid_second_factor"

    def __init__(self) -> None:
        super().__init__("the code is wrong, expired or already used")


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    """``otpauth://totp/...``: what a QR code for an authenticator app holds."""


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None


def _hash(code: str) -> str:
    return hashlib.sha256(_normalised(code).encode("ascii")).hexdigest()


def _normalised(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _totp(user: User, keys: KeyRing) -> pyotp.TOTP:
    if user.totp_secret is None:
        raise InvalidSecondFactor()
    try:
        return pyotp.TOTP(Vault(keys).decrypt(user.totp_secret))
    except Unreadable:
        raise InvalidSecondFactor() from None


def begin(user: User, keys: KeyRing) -> Enrolment:
    """A new secret for ``user`` (replacing one not yet confirmed); 2FA stays off until
    :func:`confirm`. Refused when it is already on (turn it off first)."""
    if enabled(user):
        raise Conflict("two-factor authentication is already on")
    secret = pyotp.random_base32()
    user.totp_secret = Vault(keys).encrypt(secret)
    user.totp_last_step = None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri)


def pending(user: User, keys: KeyRing) -> Enrolment | None:
    """The enrolment begun and not yet confirmed (to show its QR code again after a wrong
    first code), or ``None``."""
    if enabled(user) or user.totp_secret is None:
        return None
    try:
        secret = Vault(keys).decrypt(user.totp_secret)
    except Unreadable:
        return None
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri)


def _step_of(totp: pyotp.TOTP, code: str, now: datetime) -> int | None:
    """The time step ``code`` belongs to (within the window), or None."""
    digits = _normalised(code)
    if len(digits) != totp.digits or not digits.isdigit():
        return None
    current = totp.timecode(now)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        step = current + offset
        if secrets.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


async def confirm(
    session: AsyncSession, user: User, code: str, *, keys: KeyRing, now: datetime
) -> list[str]:
    """Turn 2FA on with a first code from the app; the recovery codes (shown once)."""
    if enabled(user):
        raise Conflict("two-factor authentication is already on")
    step = _step_of(_totp(user, keys), code, now)
    if step is None:
        raise InvalidSecondFactor()
    user.totp_enabled_at = now
    user.totp_last_step = step
    return await new_recovery_codes(session, user, now=now)


async def new_recovery_codes(session: AsyncSession, user: User, *, now: datetime) -> list[str]:
    """Replace the user's recovery codes with fresh ones (returned once, in clear)."""
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=_hash(code), created_at=now) for code in codes
    )
    await session.flush()
    return codes


async def check(
    session: AsyncSession, user: User, code: str | None, *, keys: KeyRing, now: datetime
) -> None:
    """Check the second factor of a user who has 2FA on (nothing to check otherwise): a
    current TOTP code not used before, or an unused recovery code (used up now)."""
    if not enabled(user):
        return
    if not code or not code.strip():
        raise SecondFactorRequired()
    step = _step_of(_totp(user, keys), code, now)
    if step is not None:
        # A compare-and-set: of two requests with the same code at once, one wins.
        won = await rows_changed(
            session,
            update(User)
            .where(
                User.id == user.id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step),
        )
        if won != 1:
            raise InvalidSecondFactor()  # a code seen before (replayed) or an older one
        set_committed_value(user, "totp_last_step", step)
        return
    used = await rows_changed(
        session,
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now),
    )
    if used != 1:
        raise InvalidSecondFactor()


async def recovery_codes_left(session: AsyncSession, user: User) -> int:
    found = await session.scalars(
        select(RecoveryCode.id).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )
    return len(list(found))


async def disable(session: AsyncSession, user: User) -> None:
    """Turn 2FA off (the caller has checked the password and :func:`check`)."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await session.flush()
