"""API key format: generation, offline checksum validation and the peppered digest."""

from __future__ import annotations

import hashlib
import hmac
import math
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.security.api_keys import (
    BASE62_ALPHABET,
    CHECKSUM_LENGTH,
    KEY_LENGTH,
    KEY_PREFIX,
    RANDOM_LENGTH,
    generate_api_key,
    key_digest,
    looks_valid,
)

PEPPER = b"p" * 32
keys = st.builds(lambda _: generate_api_key().token, st.integers())
peppers = st.binary(min_size=32, max_size=64)


def test_format() -> None:
    key = generate_api_key()
    assert key.token.startswith("echo_live_")
    assert len(key.token) == KEY_LENGTH == len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
    assert set(key.token.removeprefix(KEY_PREFIX)) <= set(string.ascii_letters + string.digits)
    assert key.prefix_display == key.token[: len(KEY_PREFIX) + 4]
    assert key.last4 == key.token[-4:]
    assert key.token not in repr(key)


def test_random_part_carries_at_least_128_bits() -> None:
    assert RANDOM_LENGTH >= 22
    assert RANDOM_LENGTH * math.log2(62) >= 128
    # Still >= 128 bits hidden after the 4 displayed random characters and a full
    # 32-bit checksum are known.
    assert (RANDOM_LENGTH - 4) * math.log2(62) - 32 >= 128


def test_keys_are_unique_and_use_the_whole_alphabet() -> None:
    tokens = [generate_api_key().token for _ in range(500)]
    assert len(set(tokens)) == 500
    seen = set("".join(t[len(KEY_PREFIX) : len(KEY_PREFIX) + RANDOM_LENGTH] for t in tokens))
    assert seen == set(BASE62_ALPHABET)


@given(keys)
def test_generated_keys_always_validate(token: str) -> None:
    assert looks_valid(token)


@given(keys, st.data())
def test_any_single_character_substitution_fails(token: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != token[index]))
    assert not looks_valid(token[:index] + replacement + token[index + 1 :])


@given(keys, st.data())
def test_insertions_and_deletions_fail(token: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(token) - 1))
    inserted = data.draw(st.sampled_from(BASE62_ALPHABET))
    assert not looks_valid(token[:index] + token[index + 1 :])
    assert not looks_valid(token[:index] + inserted + token[index:])


def test_every_substitution_of_one_key_fails_exhaustively() -> None:
    token = generate_api_key().token
    for index in range(len(token)):
        for char in BASE62_ALPHABET + "_-":
            if char != token[index]:
                assert not looks_valid(token[:index] + char + token[index + 1 :])


@given(st.text(max_size=100))
def test_garbage_is_refused(text: str) -> None:
    assert not looks_valid(text)


def test_huge_input_is_refused_by_length() -> None:
    assert not looks_valid(KEY_PREFIX + "A" * 10_000_000)


@given(keys, peppers)
def test_digest_is_hmac_sha256_hex(token: str, pepper: bytes) -> None:
    expected = hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()
    assert key_digest(token, pepper) == expected
    assert len(expected) == 64


@given(keys, peppers, peppers)
def test_digest_differs_with_pepper(token: str, a: bytes, b: bytes) -> None:
    assert (key_digest(token, a) == key_digest(token, b)) == (a == b)


@given(keys, keys)
def test_digest_differs_between_keys(a: str, b: str) -> None:
    assert (key_digest(a, PEPPER) == key_digest(b, PEPPER)) == (a == b)


def test_short_pepper_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        key_digest(generate_api_key().token, b"short")
