"""The browser session: a cookie holding a refresh token, and its CSRF defences (SEC-02).

The session cookie is HttpOnly, SameSite=Lax, ``Secure`` and ``__Host-`` prefixed when
served over HTTPS. Its value is a refresh token of its own family (stored hashed,
revocable); the family id is the session id the CSRF token is bound to. The CSRF token
goes back in the sign-in response body and in a readable ``echo_csrf`` cookie; unsafe
cookie-authenticated requests must echo it in ``X-CSRF-Token`` *and* come from an
allowed origin (see :mod:`echo_ai.security.csrf`).
"""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import BaseModel

from echo_ai.config import Settings
from echo_ai.errors import AppError
from echo_ai.security.csrf import is_same_origin_request, normalize_origin, verify_csrf_token

SESSION_COOKIE = "echo_session"
SECURE_SESSION_COOKIE = "__Host-echo_session"
CSRF_COOKIE = "echo_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfToken(BaseModel):
    csrf_token: str


class CsrfFailed(AppError):
    status_code = 403
    code = "csrf_failed"


def session_cookie_name(settings: Settings) -> str:
    return SECURE_SESSION_COOKIE if settings.server.https else SESSION_COOKIE


def set_session_cookies(
    response: Response, settings: Settings, session_token: str, csrf_token: str
) -> None:
    max_age = settings.auth.refresh_token_days * 24 * 3600
    secure = settings.server.https
    response.set_cookie(
        session_cookie_name(settings),
        session_token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    # Readable by the page's script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE, csrf_token, max_age=max_age, path="/", secure=secure, samesite="lax"
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    secure = settings.server.https
    response.delete_cookie(
        session_cookie_name(settings), path="/", secure=secure, httponly=True, samesite="lax"
    )
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="lax")


def allowed_origins(request: Request, settings: Settings) -> set[str]:
    """Our public origin, the origin this request was addressed to, and configured ones."""
    own = f"{request.url.scheme}://{request.url.netloc}"
    origins = {own, *settings.server.allowed_origins}
    if settings.server.public_url:
        origins.add(normalize_origin(settings.server.public_url) or own)
    return origins


def check_csrf(request: Request, settings: Settings, secret: bytes, session_id: str) -> None:
    """For a cookie-authenticated request: :class:`CsrfFailed` unless it is safe, or it
    carries the session's CSRF token in both header and cookie and comes from our origin."""
    if request.method.upper() not in UNSAFE_METHODS:
        return
    header = request.headers.get(CSRF_HEADER)
    if not header or header != request.cookies.get(CSRF_COOKIE):
        raise CsrfFailed(
            "missing or invalid CSRF token (send the echo_csrf cookie's value in X-CSRF-Token)"
        )
    check_csrf_token(request, settings, secret, session_id, header)


def check_csrf_token(
    request: Request, settings: Settings, secret: bytes, session_id: str, token: str | None
) -> None:
    """:class:`CsrfFailed` unless ``token`` (from the header, or a page form's hidden
    field) was issued for this session and the request comes from our origin."""
    if not token or not verify_csrf_token(token, session_id, secret):
        raise CsrfFailed("missing or invalid CSRF token: reload the page and try again")
    check_origin(request, settings)


def check_origin(request: Request, settings: Settings) -> None:
    """:class:`CsrfFailed` unless the request comes from our own (or an allowed) origin:
    what protects the forms used before there is a session (sign-in, sign-up)."""
    if not is_same_origin_request(request.headers, allowed_origins(request, settings)):
        raise CsrfFailed("cross-site request refused")
