"""JWT access tokens: claims, key rotation by kid, and every way a token is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.security.tokens import InvalidToken, SigningKey, TokenSigner

OLD = SigningKey("2024-01", b"o" * 16 + b"ld-secret-bytes-for-tests-only!!")
NEW = SigningKey("2025-01", b"n" * 16 + b"ew-secret-bytes-for-tests-only!!")
ISSUER, AUDIENCE = "https://echo.test", "echo-api"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def signer(*keys: SigningKey, clock: Clock | None = None, **kwargs: Any) -> TokenSigner:
    return TokenSigner(keys or (NEW, OLD), ISSUER, AUDIENCE, clock=clock or Clock(), **kwargs)


def forge(payload: dict[str, Any], *, key: bytes = NEW.secret, **headers: Any) -> str:
    algorithm = headers.pop("alg", "HS256")
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": NEW.kid, **headers})


def valid_payload(clock: Clock) -> dict[str, Any]:
    now = int(clock.now.timestamp())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 900,
        "jti": "abc",
    }


json_scalars = st.one_of(st.text(max_size=40), st.integers(-(2**53), 2**53), st.booleans())


@given(
    subject=st.text(min_size=1, max_size=80),
    extra=st.dictionaries(
        st.text(min_size=1, max_size=20).filter(
            lambda k: k not in {"iss", "aud", "exp", "iat", "nbf", "jti", "sub"}
        ),
        json_scalars,
        max_size=4,
    ),
)
def test_round_trip_keeps_subject_and_extra_claims(subject: str, extra: dict[str, Any]) -> None:
    clock = Clock()
    tokens = signer(clock=clock)
    claims = tokens.verify(tokens.issue(subject, extra=extra))
    assert claims.subject == subject
    assert dict(claims.extra) == extra
    assert claims.issued_at == clock.now
    assert claims.expires_at == clock.now + timedelta(minutes=15)


def test_header_names_the_current_key_and_fixed_algorithm() -> None:
    token = signer().issue("u")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": NEW.kid}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"iss", "aud", "sub", "iat", "exp", "jti"}


def test_each_token_has_a_unique_jti() -> None:
    tokens = signer()
    ids = {tokens.verify(tokens.issue("u")).token_id for _ in range(50)}
    assert len(ids) == 50


def test_rotation_previous_key_still_verifies_until_removed() -> None:
    clock = Clock()
    old_token = signer(OLD, clock=clock).issue("u")
    assert signer(NEW, OLD, clock=clock).verify(old_token).subject == "u"
    with pytest.raises(InvalidToken):
        signer(NEW, clock=clock).verify(old_token)


def test_expiry_uses_the_injected_clock() -> None:
    clock = Clock()
    tokens = signer(clock=clock, leeway=timedelta(0))
    token = tokens.issue("u")
    clock.now += timedelta(minutes=14, seconds=59)
    tokens.verify(token)
    clock.now += timedelta(seconds=1)
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_token_issued_in_the_future_is_refused() -> None:
    clock = Clock()
    token = signer(clock=clock).issue("u")
    clock.now -= timedelta(minutes=5)
    with pytest.raises(InvalidToken):
        signer(clock=clock).verify(token)


def test_custom_ttl() -> None:
    clock = Clock()
    tokens = signer(clock=clock, ttl=timedelta(minutes=5))
    assert tokens.verify(tokens.issue("u")).expires_at == clock.now + timedelta(minutes=5)


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://evil.test"},
        {"aud": "another-api"},
        {"exp": "never"},
        {"iat": 1.5},
        {"sub": 42},
        {"sub": ""},
        {"exp": 10**30},
    ],
)
def test_wrong_or_malformed_claims_are_refused(change: dict[str, Any]) -> None:
    clock = Clock()
    with pytest.raises(InvalidToken):
        signer(clock=clock).verify(forge({**valid_payload(clock), **change}))


@pytest.mark.parametrize("missing", ["iss", "aud", "exp", "iat", "jti", "sub"])
def test_missing_claims_are_refused(missing: str) -> None:
    clock = Clock()
    payload = valid_payload(clock)
    del payload[missing]
    with pytest.raises(InvalidToken):
        signer(clock=clock).verify(forge(payload))


def test_forged_valid_payload_is_accepted_as_control() -> None:
    clock = Clock()
    assert signer(clock=clock).verify(forge(valid_payload(clock))).subject == "user-1"


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"alg": "none"}, None),
        pytest.param(
            {"alg": "HS512"},
            NEW.secret,
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        ({"kid": "unknown"}, NEW.secret),
        ({}, b"x" * 32),  # right kid, wrong secret
    ],
)
def test_bad_headers_or_signatures_are_refused(headers: dict[str, Any], key: Any) -> None:
    clock = Clock()
    token = forge(valid_payload(clock), key=key, **headers)
    with pytest.raises(InvalidToken):
        signer(clock=clock).verify(token)


def test_kid_that_is_not_a_string_is_refused() -> None:
    clock = Clock()
    header = {"alg": "HS256", "typ": "JWT", "kid": ["2025-01"]}
    signing_input = b".".join(
        jwt.utils.base64url_encode(json.dumps(part).encode())
        for part in (header, valid_payload(clock))
    )
    signature = hmac.new(NEW.secret, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    with pytest.raises(InvalidToken):
        signer(clock=clock).verify(token)


def test_token_without_kid_is_refused() -> None:
    clock = Clock()
    token = jwt.encode(valid_payload(clock), NEW.secret, algorithm="HS256")
    with pytest.raises(InvalidToken):
        signer(clock=clock).verify(token)


@given(st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    tokens = signer()
    token = tokens.issue("u")
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    )
    tampered = token[:index] + replacement + token[index + 1 :]
    if tampered == token:
        return
    try:
        claims = tokens.verify(tampered)
    except InvalidToken:
        return
    # The signature's last base64url character carries 2 unused bits, so a change there
    # can decode to the same signature: malleable, not forged (the claims are ours).
    assert claims.subject == "u"
    assert index == len(token) - 1


@given(st.text(max_size=300))
def test_garbage_only_ever_raises_invalid_token(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        signer().verify(garbage)


def test_oversized_token_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidToken):
        signer().verify("a" * 10_000)


def test_extra_claims_cannot_override_registered_ones() -> None:
    with pytest.raises(ValueError, match="sub"):
        signer().issue("u", extra={"sub": "admin"})


def test_configuration_is_validated() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SigningKey("k", b"short")
    with pytest.raises(ValueError, match="kid"):
        SigningKey("", b"x" * 32)
    with pytest.raises(ValueError, match="at least one"):
        TokenSigner([], ISSUER, AUDIENCE)
    with pytest.raises(ValueError, match="unique"):
        TokenSigner([NEW, SigningKey(NEW.kid, b"y" * 32)], ISSUER, AUDIENCE)
    with pytest.raises(ValueError, match="positive"):
        TokenSigner([NEW], ISSUER, AUDIENCE, ttl=timedelta(0))


def test_secret_is_not_in_repr() -> None:
    assert "secret" not in repr(NEW).replace("secret=", "")
    assert NEW.secret.decode() not in repr(NEW)
