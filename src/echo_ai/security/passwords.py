"""Password hashing (Argon2id) and the password policy.

Parameters follow the OWASP Password Storage Cheat Sheet's first Argon2id option
(m=19 MiB, t=2, p=1): memory-hard enough to make GPU cracking costly while keeping a
login around tens of milliseconds on one core. :func:`needs_rehash` lets the login flow
upgrade stored hashes when these parameters change.

Passwords are NFKC-normalised before hashing and verifying (NIST SP 800-63B), so the
same password typed on keyboards that produce different Unicode forms still matches.
"""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

_HASHER = PasswordHasher(
    time_cost=2,
    memory_cost=19 * 1024,  # KiB
    parallelism=1,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)

DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=2,p=1$bC7Ka5+/y7naKdp55MasPQ"
    "$1AQL1OHA24TOwbLwf2dHWYZ2ELaHkjC4KBCL9NnF2pM"
)
"""A hash of a random, discarded password, made with the current parameters.

Verifying against it costs the same as a real check, so a login for an unknown email
takes as long as one with a wrong password and does not reveal which emails exist.
Precomputed rather than hashed at import so importing this module stays cheap; a test
asserts it still matches the parameters above.
"""


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def validate_password(password: str) -> None:
    """Raise ValueError with a message fit for the user when the password breaks the policy.

    Too-long passwords are refused rather than truncated: silently cutting a password
    means part of what the user typed protects nothing.
    """
    length = len(_normalise(password))
    if length < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if length > MAX_PASSWORD_LENGTH:
        raise ValueError(f"Password must be at most {MAX_PASSWORD_LENGTH} characters long.")
    if password.strip() == "":
        raise ValueError("Password cannot consist only of whitespace.")


def hash_password(password: str) -> str:
    """Hash with Argon2id and a fresh salt. The policy is checked by the caller, not here."""
    return _HASHER.hash(_normalise(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches; False on a mismatch or a malformed stored hash.

    Never raises, so a corrupt row cannot turn a login into a 500 or a different response.
    """
    try:
        return _HASHER.verify(password_hash, _normalise(password))
    except (VerificationError, InvalidHashError, UnicodeError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters (or is unreadable) and should be
    replaced with a fresh hash of the password the user just proved they know."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def verify_dummy(password: str) -> bool:
    """Spend the time of one real verification, for unknown users. Always False."""
    verify_password(DUMMY_HASH, password)
    return False
