"""Secret key strength checks and the generated key file."""

from __future__ import annotations

import os
import secrets
import stat
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_ai.security.secrets import check_secret_key, load_or_create_secret

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "short",
        "x" * 31,
        "a" * 64,
        "abcabcabcabcabcabcabcabcabcabcabcabc",
        "0123456701234567012345670123456701234567",
        "changeme-changeme-changeme-changeme",
        "please-CHANGE_ME-before-production-2024-xyz",
        "django-insecure-k2j3h4k5j6h7k8j9h0k1j2h3k4j5",
        "my-super-secret-key-for-production-use-only",
        "ababababababababababababababababab12",
    ],
)
def test_weak_keys_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="Secret key") as error:
        check_secret_key(value)
    assert "token_urlsafe" in str(error.value)  # the message says how to fix it


@given(st.integers(min_value=24, max_value=64))
def test_generated_urlsafe_keys_pass(n_bytes: int) -> None:
    check_secret_key(secrets.token_urlsafe(n_bytes))


def test_hex_keys_of_256_bits_pass() -> None:
    for _ in range(2000):
        check_secret_key(secrets.token_hex(32))


def test_random_passphrase_style_key_passes() -> None:
    check_secret_key("tulip-granite-orbit-velvet-quasar-lantern-93")


@posix_only
def test_creates_a_strong_private_key_once(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secret_key"
    value = load_or_create_secret(path)
    check_secret_key(value)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == value
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temp file left


@posix_only
def test_mode_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "secret_key"
        load_or_create_secret(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_refuses_a_file_readable_by_others(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret_key"
    load_or_create_secret(path)
    path.chmod(mode)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_secret(path)


@posix_only
def test_refuses_a_weak_key_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("changeme\n")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="secret_key"):
        load_or_create_secret(path)


@posix_only
def test_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    load_or_create_secret(target)
    link = tmp_path / "secret_key"
    link.symlink_to(target)
    with pytest.raises(PermissionError, match="symbolic link"):
        load_or_create_secret(link)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    barrier = threading.Barrier(8)

    def start() -> str:
        barrier.wait()
        return load_or_create_secret(path)

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = set(pool.map(lambda _: start(), range(8)))
    assert values == {path.read_text().strip()}


@posix_only
def test_existing_key_is_read_with_surrounding_whitespace_stripped(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    value = secrets.token_urlsafe(48)
    path.write_text(f"  {value}\n")
    path.chmod(0o600)
    assert load_or_create_secret(path) == value
