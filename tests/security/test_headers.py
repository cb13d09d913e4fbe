"""Security response headers."""

from __future__ import annotations

import pytest

from echo_ai.security.headers import security_headers


@pytest.mark.parametrize("https", [True, False])
@pytest.mark.parametrize("authenticated", [True, False])
def test_always_present(https: bool, authenticated: bool) -> None:
    headers = security_headers(https=https, private=authenticated)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    for feature in ("camera=()", "microphone=()", "geolocation=()"):
        assert feature in headers["Permissions-Policy"]
    assert "Server" not in headers


def test_csp_is_strict_and_forbids_inline_script() -> None:
    csp = security_headers(https=True, private=False)["Content-Security-Policy"]
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
    }
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp


def test_hsts_only_over_https() -> None:
    assert "Strict-Transport-Security" not in security_headers(https=False, private=False)
    hsts = security_headers(https=True, private=False)["Strict-Transport-Security"]
    assert hsts.startswith("max-age=")
    assert int(hsts.split(";")[0].removeprefix("max-age=")) >= 31536000
    assert "includeSubDomains" in hsts


def test_no_store_only_when_private() -> None:
    assert security_headers(https=True, private=True)["Cache-Control"] == "no-store"
    assert "Cache-Control" not in security_headers(https=True, private=False)


def test_returns_a_fresh_dict() -> None:
    first = security_headers(https=True, private=True)
    first["X-Frame-Options"] = "ALLOW"
    assert security_headers(https=True, private=True)["X-Frame-Options"] == "DENY"
