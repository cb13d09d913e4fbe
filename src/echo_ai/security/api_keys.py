"""API key format, generation, offline validation and the stored digest (fixes SEC-01).

Format: ``echo_live_`` + 32 base62 random characters + 6 base62 characters of the
CRC32 of the random part (48 characters in all).

- The prefix makes leaked keys easy to find for secret scanners and tells the auth
  layer which kind of credential it holds.
- 32 base62 characters carry about 190 bits. We want at least 128 bits to stay
  unknown after the key's display form (:attr:`GeneratedKey.prefix_display` shows
  4 random characters, :attr:`GeneratedKey.last4` comes from the checksum) is seen in
  lists and logs; 28 hidden characters minus the 32 checksum bits still leave ~134.
- The checksum lets :func:`looks_valid` refuse typos and garbage with no database
  access. CRC32 detects every change of one character in the random part (a burst of
  at most 8 bits), and any change in the checksum part changes the encoded checksum.
- The stored value is an HMAC with a server-side pepper: a stolen table alone cannot
  be used to confirm guesses, and, unlike a slow per-key hash, the digest can be a
  unique-indexed column, so authentication is one indexed query whatever the number
  of keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass, field

KEY_PREFIX = "echo_live_"
BASE62_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, so any CRC32 fits
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
MIN_PEPPER_BYTES = 32

_BASE62_SET = frozenset(BASE62_ALPHABET)


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """A new key. ``token`` is shown to the user once and never stored."""

    token: str = field(repr=False)
    prefix_display: str
    last4: str


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, remainder = divmod(value, 62)
        digits.append(BASE62_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate_api_key() -> GeneratedKey:
    """Make a key from the OS CSPRNG, each character drawn uniformly from base62."""
    random_part = "".join(secrets.choice(BASE62_ALPHABET) for _ in range(RANDOM_LENGTH))
    token = KEY_PREFIX + random_part + _checksum(random_part)
    return GeneratedKey(
        token=token,
        prefix_display=token[: len(KEY_PREFIX) + 4],
        last4=token[-4:],
    )


def looks_valid(token: str) -> bool:
    """Format and checksum check, before any database access.

    Work is bounded by the fixed key length (the length is checked first), so
    garbage of any size costs the same.
    """
    if len(token) != KEY_LENGTH or not token.startswith(KEY_PREFIX):
        return False
    body = token[len(KEY_PREFIX) :]
    if not _BASE62_SET.issuperset(body):
        return False
    random_part, checksum = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return hmac.compare_digest(_checksum(random_part).encode(), checksum.encode())


def key_digest(token: str, pepper: bytes) -> str:
    """HMAC-SHA256 hex of the key under the server-side pepper: the stored lookup value."""
    if len(pepper) < MIN_PEPPER_BYTES:
        raise ValueError(f"The API key pepper must be at least {MIN_PEPPER_BYTES} bytes.")
    return hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()
