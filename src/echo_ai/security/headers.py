"""Security response headers, as a pure function the middleware applies to every response.

- The CSP allows scripts only from our own origin (no inline script, no eval), so an
  injected ``<script>`` or event handler does not run; ``frame-ancestors 'none'`` and
  ``X-Frame-Options`` (for old browsers) stop click-jacking.
- HSTS only over HTTPS: browsers ignore it over HTTP, and sending it from a local
  ``http://`` server would only confuse. No ``preload``: that is a commitment for the
  whole domain, which the operator must choose.
- ``Cache-Control: no-store`` on every *private* response keeps credentials and private
  data out of shared, browser and back-button caches: every response to a request that
  carried a credential (an ``Authorization`` header or the session cookie, valid or not,
  error responses included), and every response of the credential routes under
  :data:`CREDENTIAL_PATH_PREFIX` and :data:`CREDENTIAL_PAGES` (sign-in, session and refresh
  answer anonymous requests with tokens). Anonymous public responses (``/health``, the API
  docs, the static assets) stay cacheable.
"""

from __future__ import annotations

_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

_PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

_ALWAYS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": _PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

HSTS_VALUE = "max-age=63072000; includeSubDomains"  # two years

CREDENTIAL_PATH_PREFIX = "/auth/"
"""Routes that take or hand out credentials (passwords, tokens, the session cookie)."""
CREDENTIAL_PAGES = frozenset({"/login", "/signup", "/logout"})
"""The web pages that do the same for browsers."""


def is_credential_path(path: str) -> bool:
    return path.startswith(CREDENTIAL_PATH_PREFIX) or path in CREDENTIAL_PAGES


def security_headers(*, https: bool, private: bool) -> dict[str, str]:
    """The headers to set on a response (``private``: it must not be stored by any
    cache); a new dict each call, safe to modify."""
    headers = dict(_ALWAYS)
    if https:
        headers["Strict-Transport-Security"] = HSTS_VALUE
    if private:
        headers["Cache-Control"] = "no-store"
    return headers
