"""Opaque refresh tokens: generation and hashing only.

A refresh token is a random string, not a JWT: it is only ever checked against our own
database, so it needs no signature, and being opaque it carries nothing to leak.
The database stores only ``hash_token(token)``. SHA-256 (not Argon2) is enough because
the token has 256 bits of randomness: there is nothing to brute-force, and a fast hash
lets the hash itself be a unique-indexed lookup column.

Intended rotation scheme (implemented by the accounts service, not here):

- Login creates a *family* (one row per login session) and its first token.
- Each refresh is single use: presenting a valid, unused token marks it used,
  issues a new token in the same family, and returns a new access token.
- Presenting a token that was already used (rotated) means it was copied: someone
  else may hold its successor. The whole family is revoked, which logs out both the
  attacker and the user, who then logs in again.
- Logout revokes the current family; a password change revokes every family of the
  user. Families also expire after an absolute lifetime, whatever the refreshes.
"""

from __future__ import annotations

import hashlib
import secrets

REFRESH_TOKEN_PREFIX = "echo_rt_"
"""Lets secret scanners spot leaked tokens and lets us tell token kinds apart."""

_RANDOM_BYTES = 32  # 256 bits


def hash_token(token: str) -> str:
    """SHA-256 hex digest of the token: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> tuple[str, str]:
    """Return ``(token, token_hash)``: give the token to the client, store the hash."""
    token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return token, hash_token(token)
