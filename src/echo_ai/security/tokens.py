"""JWT access tokens: short-lived, HS256 only, with a ``kid`` so keys can rotate.

Why these choices:

- The algorithm is fixed in code, never read from the token, so ``alg: none`` or an
  algorithm-confusion token cannot pick how it is verified.
- ``kid`` names the key that signed the token. The first configured key signs; every
  configured key verifies. Rotation is: put the new key first, keep the old one until
  the longest-lived token it signed has expired (the TTL), then drop it.
- ``iss`` and ``aud`` stop a token minted for another service (or by another
  deployment sharing a key by mistake) from being accepted here.
- Every failure raises the same :class:`InvalidToken`, so callers cannot leak which
  check failed and cannot forget to handle one of them. Only a token we really signed
  whose time is over raises the subclass :class:`ExpiredToken`: the API answers it the
  same way, but does not count it as a guess (:mod:`echo_ai.security.guesses`).
- The clock is injectable so expiry is tested without sleeping; expiry is checked
  against that clock, not PyJWT's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import jwt

ALGORITHM = "HS256"
DEFAULT_TTL = timedelta(minutes=15)
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key must be at least as long as the hash
MAX_TOKEN_LENGTH = 8192  # refuse to parse absurd inputs before doing any work
RESERVED_CLAIMS = frozenset({"iss", "aud", "exp", "iat", "nbf", "jti", "sub"})
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti", "sub"]


class InvalidToken(Exception):
    """The token cannot be trusted, for whatever reason (deliberately not said which)."""


class ExpiredToken(InvalidToken):
    """A token this service signed, valid in every way but its expiry."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.kid:
            raise ValueError("A signing key needs a non-empty kid.")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"An HS256 signing key must be at least {MIN_SECRET_BYTES} bytes.")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified content of an access token."""

    subject: str
    token_id: str
    issued_at: datetime
    expires_at: datetime
    extra: Mapping[str, Any]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TokenSigner:
    """Issues and verifies access tokens for one issuer/audience pair."""

    def __init__(
        self,
        keys: Sequence[SigningKey],
        issuer: str,
        audience: str,
        ttl: timedelta = DEFAULT_TTL,
        *,
        leeway: timedelta = timedelta(seconds=10),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not keys:
            raise ValueError("TokenSigner needs at least one signing key.")
        by_kid = {key.kid: key for key in keys}
        if len(by_kid) != len(keys):
            raise ValueError("Signing key ids (kid) must be unique.")
        if ttl <= timedelta(0):
            raise ValueError("Token TTL must be positive.")
        self._current = keys[0]
        self._by_kid = by_kid
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl
        # Replicas' clocks drift a little; without leeway a token could be refused by
        # one replica just after another issued it.
        self._leeway = leeway
        self._clock = clock

    def issue(self, subject: str, *, extra: Mapping[str, Any] | None = None) -> str:
        """Sign a token for ``subject`` with the current key. ``extra`` adds claims such
        as a workspace id; it may not override the registered claims."""
        extra = dict(extra or {})
        clash = RESERVED_CLAIMS.intersection(extra)
        if clash:
            raise ValueError(f"Extra claims may not override registered claims: {sorted(clash)}")
        now = self._clock()
        payload: dict[str, Any] = {
            **extra,
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int((now + self._ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            payload, self._current.secret, algorithm=ALGORITHM, headers={"kid": self._current.kid}
        )

    def verify(self, token: str) -> AccessClaims:
        """Return the claims of a valid token; raise :class:`InvalidToken` otherwise."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("invalid token")
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if (
                header.get("alg") != ALGORITHM
                or not isinstance(kid, str)
                or kid not in self._by_kid
            ):
                raise InvalidToken("invalid token")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._by_kid[kid].secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                # Time checks are done below against the injected clock.
                options={
                    "require": _REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        return self._check_claims(claims)

    def _check_claims(self, claims: dict[str, Any]) -> AccessClaims:
        exp, iat, sub, jti = claims["exp"], claims["iat"], claims["sub"], claims["jti"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat)):
            raise InvalidToken("invalid token")
        if not (isinstance(sub, str) and sub and isinstance(jti, str) and jti):
            raise InvalidToken("invalid token")
        now = self._clock().timestamp()
        leeway = self._leeway.total_seconds()
        if iat > now + leeway:
            raise InvalidToken("invalid token")
        if now >= exp + leeway:
            raise ExpiredToken("invalid token")
        try:
            issued_at = datetime.fromtimestamp(iat, UTC)
            expires_at = datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidToken("invalid token") from exc
        extra = {k: v for k, v in claims.items() if k not in RESERVED_CLAIMS}
        return AccessClaims(
            subject=sub,
            token_id=jti,
            issued_at=issued_at,
            expires_at=expires_at,
            extra=MappingProxyType(extra),
        )
