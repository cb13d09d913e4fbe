"""Password hashing (Argon2id) and the password policy.

Parameters follow the OWASP Password Storage Cheat Sheet's first Argon2id option
(m=19 MiB, t=2, p=1): memory-hard enough to make GPU cracking costly while keeping a
login around tens of milliseconds on one core. :func:`needs_rehash` lets the login flow
upgrade stored hashes when these parameters change.

Passwords are NFKC-normalised before hashing and verifying (NIST SP 800-63B), so the
same password typed on keyboards that produce different Unicode forms still matches.

Test-only knob: :func:`use_testing_cost` switches this process to a far cheaper Argon2id
(m=64 KiB, t=1) so that the test suite's thousands of sign-ups and sign-ins do not each
spend tens of milliseconds of CPU. Nothing in the service calls it and no setting or
environment variable selects it; it is honoured only inside a pytest run (pytest sets
``PYTEST_VERSION`` for the run) and refuses otherwise, so a production process always
hashes at the OWASP cost above.
"""

from __future__ import annotations

import os
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256

_PRODUCTION_HASHER = PasswordHasher(
    time_cost=2,
    memory_cost=19 * 1024,  # KiB
    parallelism=1,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)
_TESTING_HASHER = PasswordHasher(
    time_cost=1, memory_cost=64, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
_HASHER = _PRODUCTION_HASHER

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


_TESTING_DUMMY_HASH = (
    "$argon2id$v=19$m=64,t=1,p=1$u1owZz5TerEcWOMT8FjHIQ$LBl16Hk7WWmrpbxYFa+Fmaj6eTEf3S8gV8zrS+sZVNk"
)
""":data:`DUMMY_HASH` at the testing cost (:func:`use_testing_cost`)."""
_dummy_hash = DUMMY_HASH


def use_testing_cost(enabled: bool = True) -> None:
    """Test-only: hash (and verify unknown users) at a cheap Argon2id cost in this process
    (``enabled=False`` restores the production cost). Refused outside a pytest run."""
    global _HASHER, _dummy_hash
    if enabled and not os.environ.get("PYTEST_VERSION"):
        raise RuntimeError("the testing password-hash cost is only for the test suite")
    _HASHER = _TESTING_HASHER if enabled else _PRODUCTION_HASHER
    _dummy_hash = _TESTING_DUMMY_HASH if enabled else DUMMY_HASH


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
    verify_password(_dummy_hash, password)
    return False
