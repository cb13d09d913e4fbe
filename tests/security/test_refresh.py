"""Opaque refresh tokens: format, randomness and the stored hash."""

from __future__ import annotations

import base64
import hashlib
import re

from hypothesis import given
from hypothesis import strategies as st

from echo_ai.security.refresh import REFRESH_TOKEN_PREFIX, hash_token, new_refresh_token


def test_token_format_and_strength() -> None:
    token, token_hash = new_refresh_token()
    assert token.startswith("echo_rt_")
    random_part = token.removeprefix(REFRESH_TOKEN_PREFIX)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", random_part)
    assert len(base64.urlsafe_b64decode(random_part + "=")) * 8 >= 256
    assert token_hash == hash_token(token)


def test_tokens_are_unique() -> None:
    tokens = {new_refresh_token()[0] for _ in range(1000)}
    assert len(tokens) == 1000


def test_hash_is_sha256_hex_and_not_the_token() -> None:
    token, token_hash = new_refresh_token()
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in token_hash


@given(st.text(), st.text())
def test_hash_is_deterministic_hex_and_distinguishes_tokens(a: str, b: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token(a))
    assert hash_token(a) == hash_token(a)
    assert (hash_token(a) == hash_token(b)) == (a == b)
