"""CSRF: session-bound signed tokens and the Fetch-Metadata / Origin check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.security.csrf import (
    is_same_origin_request,
    issue_csrf_token,
    normalize_origin,
    verify_csrf_token,
)

SECRET = b"s" * 32
OTHER_SECRET = b"t" * 32
sessions = st.text(min_size=1, max_size=64)


@given(sessions)
def test_token_verifies_for_its_session(session_id: str) -> None:
    assert verify_csrf_token(issue_csrf_token(session_id, SECRET), session_id, SECRET)


@given(sessions, sessions)
def test_token_is_bound_to_its_session(a: str, b: str) -> None:
    token = issue_csrf_token(a, SECRET)
    assert verify_csrf_token(token, b, SECRET) == (a == b)


@given(sessions)
def test_token_is_bound_to_the_secret(session_id: str) -> None:
    assert not verify_csrf_token(issue_csrf_token(session_id, SECRET), session_id, OTHER_SECRET)


def test_session_id_boundary_is_unambiguous() -> None:
    # With naive concatenation, ("ab", "c...") and ("a", "bc...") could share a MAC.
    token = issue_csrf_token("ab", SECRET)
    nonce, mac = token.split(".")
    assert not verify_csrf_token(f"b{nonce}.{mac}", "a", SECRET)


def test_tokens_use_fresh_nonces() -> None:
    assert len({issue_csrf_token("sid", SECRET) for _ in range(100)}) == 100


@given(sessions, st.data())
def test_tampering_fails(session_id: str, data: st.DataObject) -> None:
    token = issue_csrf_token(session_id, SECRET)
    # Every position counts, the last too: the MAC is compared as text, not decoded.
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != token[index]))
    tampered = token[:index] + replacement + token[index + 1 :]
    assert not verify_csrf_token(tampered, session_id, SECRET)


@given(st.text(max_size=300))
def test_garbage_never_raises(garbage: str) -> None:
    assert not verify_csrf_token(garbage, "sid", SECRET)


@pytest.mark.parametrize("token", ["", ".", "abc.", ".abc", "a.b.c", "x" * 1000])
def test_malformed_tokens_fail(token: str) -> None:
    assert not verify_csrf_token(token, "sid", SECRET)


def test_empty_session_and_short_secret() -> None:
    assert not verify_csrf_token(issue_csrf_token("sid", SECRET), "", SECRET)
    with pytest.raises(ValueError, match="session"):
        issue_csrf_token("", SECRET)
    with pytest.raises(ValueError, match="32 bytes"):
        issue_csrf_token("sid", b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        verify_csrf_token("a.b", "sid", b"short")


ALLOWED = {"https://app.echo.test", "http://localhost:8000"}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"sec-fetch-site": "none"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}, False),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://app.echo.test"}, True),
        ({"Origin": "https://app.echo.test"}, True),
        ({"Origin": "https://APP.echo.test:443"}, True),
        ({"Origin": "http://localhost:8000"}, True),
        ({"Origin": "http://localhost:8001"}, False),
        ({"Origin": "http://app.echo.test"}, False),
        ({"Origin": "https://app.echo.test.evil.test"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": "https://app.echo.test/path"}, False),
        ({"Origin": "https://user@app.echo.test"}, False),
        ({"Origin": "https://evil.test", "Referer": "https://app.echo.test/page"}, False),
        ({"Referer": "https://app.echo.test/some/page?q=1"}, True),
        ({"Referer": "https://evil.test/https://app.echo.test"}, False),
        ({"Referer": "not a url"}, False),
        ({"Origin": "http://[::1"}, False),
        ({}, False),
    ],
)
def test_same_origin_check(headers: dict[str, str], expected: bool) -> None:
    assert is_same_origin_request(headers, ALLOWED) is expected


def test_allowed_origins_are_normalised() -> None:
    headers = {"Origin": "https://app.echo.test"}
    assert is_same_origin_request(headers, {"HTTPS://App.Echo.Test:443/"})
    assert not is_same_origin_request(headers, {"not an origin"})


@given(
    st.dictionaries(
        st.sampled_from(["Origin", "Referer", "Sec-Fetch-Site", "Host", "X-Other"]),
        st.text(max_size=80),
    )
)
def test_origin_check_never_raises(headers: dict[str, str]) -> None:
    result = is_same_origin_request(headers, ALLOWED)
    if headers.get("Sec-Fetch-Site", "").strip().lower() not in {"same-origin", "none"}:
        assert not result or any(k in headers for k in ("Origin", "Referer"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Example.COM", "https://example.com"),
        ("https://example.com:443/x", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://example.com:8080", "http://example.com:8080"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("ftp://example.com", None),
        ("example.com", None),
        ("https://", None),
        ("https://example.com:99999", None),
    ],
)
def test_normalize_origin(value: str, expected: str | None) -> None:
    assert normalize_origin(value) == expected
