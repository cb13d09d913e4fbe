"""CSRF defences for cookie-authenticated requests (fixes SEC-02).

Two independent checks, both required for unsafe methods:

1. A *signed double-submit* token: ``nonce.mac`` where the MAC covers the session id.
   The server sets it in a cookie (and page forms); the client echoes it in a header
   or form field; the middleware checks both copies are equal and that
   :func:`verify_csrf_token` accepts it. Binding to the session means a token planted
   by an attacker (e.g. via a sibling subdomain's cookie) is useless for another
   session, and the signature means it cannot be forged without the server secret.
2. :func:`is_same_origin_request`, using Fetch Metadata and ``Origin``/``Referer``,
   which stops cross-site requests even before a token is looked at.

Requests authenticated by API key or Bearer token are exempt: browsers never attach
those on their own, so they cannot be forged cross-site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

MIN_SECRET_BYTES = 32
_NONCE_BYTES = 16
_MAX_TOKEN_LENGTH = 256
_DOMAIN = b"echo-ai/csrf/v1"  # keeps these MACs distinct from others made with the same secret
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(session_id: str, nonce: str, secret: bytes) -> str:
    session = session_id.encode("utf-8")
    # Length-prefixing the session id makes the message unambiguous.
    message = b"|".join([_DOMAIN, str(len(session)).encode(), session, nonce.encode("ascii")])
    return _b64(hmac.new(secret, message, hashlib.sha256).digest())


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"The CSRF secret must be at least {MIN_SECRET_BYTES} bytes.")


def issue_csrf_token(session_id: str, secret: bytes) -> str:
    """A fresh token for this session: a random nonce and an HMAC over session id + nonce."""
    _check_secret(secret)
    if not session_id:
        raise ValueError("A CSRF token must be bound to a session id.")
    nonce = _b64(secrets.token_bytes(_NONCE_BYTES))
    return f"{nonce}.{_mac(session_id, nonce, secret)}"


def verify_csrf_token(token: str, session_id: str, secret: bytes) -> bool:
    """True when the token was issued by us for this session. Constant-time MAC compare."""
    _check_secret(secret)
    if not session_id or len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
        return False
    nonce, sep, mac = token.partition(".")
    if not sep or not nonce or not mac:
        return False
    expected = _mac(session_id, nonce, secret)
    return hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii"))


def normalize_origin(value: str, *, bare: bool = False) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-cased, default port dropped; None if the
    value is not an http(s) URL with a host. Use it to validate configured origins too.

    With ``bare``, also None when the value has a path, query or fragment, as a real
    ``Origin`` header never does.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if bare and (parts.path not in ("", "/") or parts.query or parts.fragment):
        return None
    if ":" in host:  # IPv6 literal; urlsplit drops the brackets
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_same_origin_request(headers: Mapping[str, str], allowed_origins: set[str]) -> bool:
    """Whether an unsafe request comes from our own pages (or an allowed origin).

    Order: ``Sec-Fetch-Site`` of ``same-origin`` or ``none`` (typed URL, bookmark) is
    trusted, since browsers set it and pages cannot; otherwise ``Origin`` must be an
    allowed origin; without ``Origin``, the origin of ``Referer`` must be. With none of
    the three headers there is no evidence, so the answer is no.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("sec-fetch-site", "").strip().lower() in {"same-origin", "none"}:
        return True
    allowed = {o for o in map(normalize_origin, allowed_origins) if o is not None}
    origin = lowered.get("origin")
    if origin is not None:
        return normalize_origin(origin, bare=True) in allowed
    referer = lowered.get("referer")
    if referer is not None:
        return normalize_origin(referer) in allowed
    return False
