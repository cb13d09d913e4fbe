"""The application secret key: refuse weak ones, create a strong one once (fixes SEC-07).

Every signature the service makes (CSRF tokens, and anything derived from this key)
is only as strong as the key, so the service refuses to start with a short,
repetitive or placeholder key in any environment. The embedded default needs no
set-up: it generates a key on first start and keeps it, readable only by its owner,
in the data directory.
"""

from __future__ import annotations

import errno
import math
import os
import secrets
import stat
from collections import Counter
from pathlib import Path

MIN_SECRET_LENGTH = 32
MIN_BITS_PER_CHAR = 3.0
MIN_DISTINCT_CHARS = 8
"""Thresholds. 3.0 bits/char (not 3.5) because the empirical Shannon entropy of a short
random hex key is low: 3.5 would refuse ~1 in 5 keys from ``openssl rand -hex 16``
(128 random bits), while 3.0 refuses about 1 in 10,000 and no 64-character hex key."""

_PLACEHOLDERS = (
    "changeme",
    "change_me",
    "change-me",
    "changethis",
    "replaceme",
    "placeholder",
    "secretkey",
    "secret_key",
    "secret-key",
    "mysecret",
    "supersecret",
    "yoursecret",
    "your_secret",
    "your-secret",
    "insecure",
    "notsecure",
    "example",
    "password",
    "default",
)


def _bits_per_char(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _is_repetition(value: str) -> bool:
    # A string equal to itself rotated by k < len is periodic, e.g. "abcabc...".
    return (value + value).find(value, 1) < len(value)


def check_secret_key(value: str) -> None:
    """Raise ValueError, saying what is wrong and how to fix it, when the key is weak."""
    hint = "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"Secret key is too short (< {MIN_SECRET_LENGTH} characters). {hint}")
    lowered = value.lower()
    for placeholder in _PLACEHOLDERS:
        if placeholder in lowered:
            raise ValueError(f"Secret key looks like a placeholder ({placeholder!r}). {hint}")
    if (
        len(set(value)) < MIN_DISTINCT_CHARS
        or _bits_per_char(value) < MIN_BITS_PER_CHAR
        or _is_repetition(value)
    ):
        raise ValueError(f"Secret key has too little entropy (repetitive). {hint}")


def _read_existing(path: Path) -> str:
    # O_NOFOLLOW and fstat on the open descriptor: the mode we check is the mode of the
    # file we read, not of whatever a symlink or a swapped path points to later.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PermissionError(
                f"Refusing to use secret key file {path}: it is a symbolic link."
            ) from exc
        raise
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PermissionError(
                f"Refusing to use secret key file {path}: it is accessible by group or others "
                f"(mode {stat.filemode(mode)}). Run: chmod 600 {path}"
            )
        try:
            value = handle.read().strip()
        except UnicodeDecodeError:
            raise ValueError(
                f"Secret key file {path} does not hold a key (it is not text: overwritten?)."
                " Put the key back from a backup; a new key would end every session and"
                " make the stored two-factor and provider secrets unreadable."
            ) from None
    try:
        check_secret_key(value)
    except ValueError as exc:
        raise ValueError(f"Secret key file {path}: {exc}") from exc
    return value


def load_or_create_secret(path: Path) -> str:
    """Return the key stored at ``path``, creating a strong one (mode 0600) on first use.

    The key is written to a private temporary file and then hard-linked into place, so
    a concurrently starting process either sees the complete key or creates nothing:
    the link fails if the file already exists, and that process reads the winner's key.
    """
    if path.exists():
        return _read_existing(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_existing(path)
    finally:
        tmp.unlink(missing_ok=True)
    return value
