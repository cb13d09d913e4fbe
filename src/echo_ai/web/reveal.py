"""Showing a new secret (an API key, a webhook's signing secret) once, after a redirect.

A form that makes a secret answers with Post/Redirect/Get like every other form, so that
reloading the page it lands on never sends the form again (and never makes a second key
or rule). The secret travels to that page in a flash cookie: encrypted and authenticated
with a key derived from the server's secret (Fernet), bound to the user and to what it
reveals, scoped to the one page's path, ``HttpOnly``, ``SameSite=Strict`` and valid for
:data:`REVEAL_SECONDS`. The page that shows it deletes it in the same answer, so a reload
shows it no more. The secret is never put in a URL, and nothing of it is kept on the
server (only the API key's digest, the webhook secret encrypted on its rule).
"""

from __future__ import annotations

import json
import uuid

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.config import Settings
from echo_ai.security.keys import KeyRing

REVEAL_COOKIE = "echo_reveal"
REVEAL_SECONDS = 120
"""How long the redirected page has to show the secret (a redirect takes milliseconds;
a slow link or a busy server, seconds)."""


def reveal_once(
    response: Response,
    *,
    keys: KeyRing,
    settings: Settings,
    user_id: uuid.UUID,
    path: str,
    kind: str,
    secret: str,
    clock: Clock = SYSTEM_CLOCK,
) -> Response:
    """``response`` (the redirect to ``path``) carrying ``secret`` for that page to show
    once (:func:`take_revealed` with the same ``kind``)."""
    sealed = Fernet(keys.reveal_key).encrypt_at_time(
        json.dumps({"user": str(user_id), "kind": kind, "secret": secret}).encode("utf-8"),
        int(clock.time()),
    )
    response.set_cookie(
        REVEAL_COOKIE,
        sealed.decode("ascii"),
        max_age=REVEAL_SECONDS,
        path=path,
        secure=settings.server.https,
        httponly=True,
        samesite="strict",
    )
    return response


def take_revealed(
    request: Request,
    *,
    keys: KeyRing,
    user_id: uuid.UUID,
    kind: str,
    clock: Clock = SYSTEM_CLOCK,
) -> str | None:
    """The secret the redirect brought for this user and ``kind``, if it is still fresh
    (then the page must :func:`forget_revealed` on its answer); None otherwise."""
    sealed = request.cookies.get(REVEAL_COOKIE)
    if not sealed:
        return None
    try:
        found = json.loads(
            Fernet(keys.reveal_key).decrypt_at_time(
                sealed.encode("ascii"), REVEAL_SECONDS, int(clock.time())
            )
        )
    except (InvalidToken, UnicodeError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("user") != str(user_id):
        return None
    if found.get("kind") != kind or not isinstance(found.get("secret"), str):
        return None
    secret: str = found["secret"]
    return secret


def forget_revealed(
    request: Request, response: Response, *, path: str, settings: Settings
) -> Response:
    """``response`` deleting the flash cookie of ``path`` when the request brought one
    (shown now, stale or not this user's: it is of no further use)."""
    if REVEAL_COOKIE in request.cookies:
        response.delete_cookie(
            REVEAL_COOKIE,
            path=path,
            secure=settings.server.https,
            httponly=True,
            samesite="strict",
        )
    return response
