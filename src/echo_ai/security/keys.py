"""The service's keys, all derived from one secret key (plus previous ones while rotating).

``ECHO_AI_SECRET_KEY`` (or ``ECHO_AI_SECRET_KEY_FILE``) is the one secret to manage. Keys
for each purpose are derived from it with HMAC, so a leak of one derived key exposes
nothing else. ``ECHO_AI_PREVIOUS_SECRET_KEYS`` (comma-separated) keeps tokens signed and
API keys digested under older secrets valid during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from echo_ai.config import Settings, read_secret
from echo_ai.security.files import private_directory
from echo_ai.security.secrets import check_secret_key, load_or_create_secret
from echo_ai.security.tokens import SigningKey

SECRET_FILE_NAME = "secret_key"


def derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()


def _kid(secret: str) -> str:
    return hashlib.sha256(derive(secret, "kid")).hexdigest()[:12]


@dataclass(frozen=True)
class KeyRing:
    current: str
    previous: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.current, *self.previous)

    def signing_keys(self) -> list[SigningKey]:
        """JWT keys: the current one signs; every one verifies (by ``kid``)."""
        return [SigningKey(kid=_kid(s), secret=derive(s, "jwt")) for s in self.secrets]

    def peppers(self) -> list[bytes]:
        """API-key peppers: the current one for new keys, all of them for look-ups."""
        return [derive(s, "api-key-pepper") for s in self.secrets]

    def credential_keys(self) -> list[bytes]:
        """Fernet keys (url-safe base64 of 32 bytes) for the provider keys workspaces store:
        the current one encrypts, every one decrypts (:mod:`echo_ai.credentials.vault`)."""
        return [base64.urlsafe_b64encode(derive(s, "provider-credentials")) for s in self.secrets]

    @property
    def csrf_secret(self) -> bytes:
        return derive(self.current, "csrf")

    @property
    def reveal_key(self) -> bytes:
        """The Fernet key (url-safe base64) of the one-time reveals of new secrets in the
        dashboard (:mod:`echo_ai.web.reveal`): short-lived, so only the current secret."""
        return base64.urlsafe_b64encode(derive(self.current, "one-time-reveal"))

    @property
    def audit_pseudonym_key(self) -> bytes:
        """The HMAC key of the pseudonyms that replace an erased user's personal data in
        the audit log (:mod:`echo_ai.accounts.erasure`): one user, one pseudonym, in every
        event, without the key nobody can tell whose it is."""
        return derive(self.current, "audit-pseudonym")


def load_key_ring(settings: Settings) -> KeyRing:
    """The configured secret key, or (development only) one generated once and kept in the
    data directory. Weak keys are refused in every environment."""
    configured = read_secret("ECHO_AI_SECRET_KEY")
    if configured is None:
        if settings.environment == "production":
            raise ValueError("ECHO_AI_SECRET_KEY (or ECHO_AI_SECRET_KEY_FILE) must be set")
        private_directory(settings.data_dir)
        configured = load_or_create_secret(settings.data_dir / SECRET_FILE_NAME)
    check_secret_key(configured)
    previous = tuple(
        key.strip() for key in (read_secret("ECHO_AI_PREVIOUS_SECRET_KEYS") or "").split(",")
    )
    previous = tuple(key for key in previous if key)
    for key in previous:
        check_secret_key(key)
    return KeyRing(current=configured, previous=previous)
