"""The one-time reveal of a new secret after a redirect: the flash cookie carries it
sealed, for one user and one kind, for a short while; the page deletes it."""

from __future__ import annotations

import uuid

from fastapi import Request, Response

from echo_ai.config import Settings
from echo_ai.security.keys import KeyRing
from echo_ai.web.reveal import (
    REVEAL_COOKIE,
    REVEAL_SECONDS,
    forget_revealed,
    reveal_once,
    take_revealed,
)
from tests.kit import ManualClock

KEYS = KeyRing("a" * 64)
PATH = "/settings/keys"


def _request(cookie: str | None) -> Request:
    headers = [] if cookie is None else [(b"cookie", f"{REVEAL_COOKIE}={cookie}".encode())]
    return Request({"type": "http", "method": "GET", "path": PATH, "headers": headers})


def _sealed(settings: Settings, user: uuid.UUID, clock: ManualClock, secret: str) -> str:
    response = reveal_once(
        Response(),
        keys=KEYS,
        settings=settings,
        user_id=user,
        path=PATH,
        kind="api-key",
        secret=secret,
        clock=clock,
    )
    header = response.headers["set-cookie"]
    assert f"Path={PATH}" in header and "HttpOnly" in header and "SameSite=strict" in header
    assert f"Max-Age={REVEAL_SECONDS}" in header
    value = header.split(";")[0].split("=", 1)[1]
    assert secret not in value  # sealed, not merely encoded
    return value


def test_the_secret_comes_back_for_its_user_and_kind_while_fresh(settings: Settings) -> None:
    clock = ManualClock(now=1_800_000_000.0)
    ada, eve = uuid.uuid4(), uuid.uuid4()
    cookie = _sealed(settings, ada, clock, "echo_live_secret")

    def taken(user: uuid.UUID, kind: str = "api-key") -> str | None:
        return take_revealed(_request(cookie), keys=KEYS, user_id=user, kind=kind, clock=clock)

    assert taken(ada) == "echo_live_secret"
    assert taken(eve) is None  # another user's browser session
    assert taken(ada, kind="webhook-secret") is None
    other_server = KeyRing("b" * 64)
    assert take_revealed(_request(cookie), keys=other_server, user_id=ada, kind="api-key") is None
    assert (
        take_revealed(_request(cookie[:-4] + "AAAA"), keys=KEYS, user_id=ada, kind="api-key")
        is None
    )
    clock.advance(REVEAL_SECONDS + 1)
    assert taken(ada) is None  # stale


def test_the_page_deletes_the_cookie_only_when_one_came(settings: Settings) -> None:
    kept = forget_revealed(_request(None), Response(), path=PATH, settings=settings)
    assert "set-cookie" not in kept.headers
    gone = forget_revealed(_request("x"), Response(), path=PATH, settings=settings)
    header = gone.headers["set-cookie"]
    assert header.startswith(f"{REVEAL_COOKIE}=") and "Max-Age=0" in header
    assert f"Path={PATH}" in header
