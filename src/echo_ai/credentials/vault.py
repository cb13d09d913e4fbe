"""Encrypting the provider keys workspaces store, with keys derived from the server's secret.

Each secret key of the ring (:class:`~echo_ai.security.keys.KeyRing`: the current one, then
``ECHO_AI_PREVIOUS_SECRET_KEYS``) gives one Fernet key. ``MultiFernet`` encrypts with the
first and decrypts with any, so stored keys survive a secret-key rotation; once the old
secret is to be dropped, :func:`echo_ai.credentials.store.rotate` re-encrypts every stored
key under the current one (``echo-ai provider-keys rotate``).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from echo_ai.security.keys import KeyRing


class Unreadable(Exception):
    """A stored token that none of the ring's keys decrypts (the secret key that encrypted
    it is no longer configured, or the column was altered)."""


class Vault:
    def __init__(self, keys: KeyRing) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys.credential_keys()])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The secret; :class:`Unreadable` when no key of the ring decrypts ``token``."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as error:
            raise Unreadable("no configured secret key decrypts this provider key") from error

    def rotate(self, token: str) -> str:
        """``token`` encrypted again under the current secret key (:class:`Unreadable` if
        no key of the ring decrypts it)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as error:
            raise Unreadable("no configured secret key decrypts this provider key") from error
