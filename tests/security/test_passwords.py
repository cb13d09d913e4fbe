"""Argon2id hashing and the password policy. Argon2 is slow on purpose, so only a
handful of real hashes are made here, never inside a hypothesis loop.

The rest of the suite hashes at the testing cost (tests/conftest.py); this module puts
the production cost back for its tests, and shows that a process outside pytest can
neither get nor ask for anything else."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.security import passwords
from echo_ai.security.passwords import (
    DUMMY_HASH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    validate_password,
    verify_dummy,
    verify_password,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module", autouse=True)
def production_cost() -> Iterator[None]:
    passwords.use_testing_cost(False)
    yield
    passwords.use_testing_cost()


def test_a_process_outside_pytest_hashes_at_the_production_cost_and_refuses_the_testing_one() -> (
    None
):
    script = (
        "from echo_ai.security import passwords\n"
        "print(passwords.hash_password('correct horse battery staple')[:31])\n"
        "passwords.use_testing_cost()\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    ran = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.stdout == "$argon2id$v=19$m=19456,t=2,p=1$\n", ran.stderr
    assert ran.returncode != 0
    assert "RuntimeError: the testing password-hash cost is only for the test suite" in ran.stderr


def test_the_testing_cost_hashes_verifies_and_matches_its_dummy_hash() -> None:
    passwords.use_testing_cost()
    try:
        stored = hash_password(PASSWORD)
        assert stored.startswith("$argon2id$v=19$m=64,t=1,p=1$")
        assert verify_password(stored, PASSWORD)
        assert not verify_password(stored, PASSWORD + " ")
        assert not needs_rehash(stored)
        assert needs_rehash(DUMMY_HASH)  # a production hash would be made cheap on sign-in
        assert not needs_rehash(passwords._TESTING_DUMMY_HASH)
        assert verify_dummy(PASSWORD) is False
    finally:
        passwords.use_testing_cost(False)


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return hash_password(PASSWORD)


def test_hash_is_argon2id_with_owasp_parameters(stored_hash: str) -> None:
    assert stored_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert not needs_rehash(stored_hash)


def test_verify_accepts_the_password_and_refuses_others(stored_hash: str) -> None:
    assert verify_password(stored_hash, PASSWORD)
    assert not verify_password(stored_hash, PASSWORD + " ")
    assert not verify_password(stored_hash, PASSWORD[:-1])


def test_salts_differ_between_hashes(stored_hash: str) -> None:
    assert hash_password(PASSWORD) != stored_hash


def test_unicode_forms_of_one_password_match() -> None:
    password = "Passwört-für-café"
    stored = hash_password(unicodedata.normalize("NFC", password))
    assert verify_password(stored, unicodedata.normalize("NFD", password))


def test_longest_allowed_password_is_not_truncated() -> None:
    longest = "a" * (MAX_PASSWORD_LENGTH - 1) + "b"
    stored = hash_password(longest)
    assert verify_password(stored, longest)
    assert not verify_password(stored, longest[:-1] + "c")


@given(st.text(max_size=200))
def test_verify_never_raises_on_a_malformed_hash(garbage: str) -> None:
    assert verify_password(garbage, PASSWORD) is False
    assert needs_rehash(garbage) is True


def test_hash_with_weaker_parameters_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert verify_password(weak, PASSWORD)
    assert needs_rehash(weak)


def test_dummy_hash_uses_current_parameters_and_never_matches() -> None:
    assert not needs_rehash(DUMMY_HASH)
    assert verify_dummy(PASSWORD) is False


@given(st.text(min_size=MIN_PASSWORD_LENGTH, max_size=MAX_PASSWORD_LENGTH).filter(str.strip))
def test_policy_accepts_lengths_within_bounds(password: str) -> None:
    normalised = unicodedata.normalize("NFKC", password)
    if MIN_PASSWORD_LENGTH <= len(normalised) <= MAX_PASSWORD_LENGTH:
        validate_password(password)


@given(st.text(max_size=MIN_PASSWORD_LENGTH - 1, alphabet=st.characters(codec="ascii")))
def test_policy_refuses_short_passwords(password: str) -> None:
    with pytest.raises(ValueError, match="at least 12"):
        validate_password(password)


@given(st.integers(min_value=MAX_PASSWORD_LENGTH + 1, max_value=5000))
def test_policy_refuses_long_passwords_instead_of_truncating(length: int) -> None:
    with pytest.raises(ValueError, match="at most 256"):
        validate_password("x" * length)


@pytest.mark.parametrize("password", [" " * 12, "\t" * 20 + "\n", "\u3000" * 13])
def test_policy_refuses_whitespace_only(password: str) -> None:
    with pytest.raises(ValueError, match="whitespace"):
        validate_password(password)


def test_policy_boundaries() -> None:
    validate_password("a" * MIN_PASSWORD_LENGTH)
    validate_password("a" * MAX_PASSWORD_LENGTH)
