"""The data directory is 0700 and the files in it 0600 (issue 9, 8a).

Checked for real: ``echo-ai serve`` and ``echo-ai run`` in their own processes, started
with the usual umask (022, which would give 0755 directories and 0644 files), then every
path in the data directory is stat'ed; the database's WAL and shared-memory files are
checked while the server holds them open. An installation an older version left readable
is restricted at the next start, with a warning naming the path.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from echo_ai.security.files import private_directory, private_file
from tests.kit import PASSWORD, wait_until_sync
from tests.live import ServeProcess

USUAL_UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    """The mode of every path under ``directory``, by its relative name."""
    return {str(path.relative_to(directory)): mode(path) for path in directory.rglob("*")}


def private(files: dict[str, int], directory: Path) -> dict[str, int]:
    """What ``files`` should be: each directory 0700, each file 0600."""
    return {name: 0o700 if (directory / name).is_dir() else 0o600 for name in files}


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ECHO_AI_")
        and key not in {"DATABASE_URL", "REDIS_URL"}
        and not key.endswith(("_API_KEY", "_BASE_URL"))
    }
    env["ECHO_AI_DATA_DIR"] = str(data_dir)
    return env


def echo_ai(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echo_ai.cli", *args],
        env=clean_env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
        umask=USUAL_UMASK,
        check=False,
    )


@contextmanager
def serving(data_dir: Path) -> Iterator[str]:
    """``echo-ai serve`` in its own process (under the usual umask); its base URL."""
    server = ServeProcess(clean_env(data_dir), cwd=data_dir.parent, umask=USUAL_UMASK)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.long
def test_serve_keeps_the_database_and_the_secret_key_to_its_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(data_dir) as base:
        registered = httpx.post(
            f"{base}/auth/register",
            json={"email": "ada@example.com", "password": PASSWORD, "accept_terms": True},
            timeout=60,
        )
        assert registered.status_code == 201, registered.text
        # The verification mail is written to the outbox after the answer.
        outbox = data_dir / "outbox"
        wait_until_sync(
            lambda: outbox.is_dir() and any(outbox.glob("*.eml")),
            message="no verification mail in the outbox",
        )
        # While the server runs, SQLite holds its write-ahead log and its index open.
        files = modes(data_dir)
        assert {"echo-ai.db", "echo-ai.db-wal", "echo-ai.db-shm", "secret_key"} <= set(files)
        assert files == private(files, data_dir)
        assert mode(data_dir) == 0o700


@pytest.mark.long
def test_an_experiment_run_from_the_command_line_leaves_only_private_files(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    ran = echo_ai(
        "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--iterations", "5",
        data_dir=data_dir,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    files = modes(data_dir)
    assert "echo-ai.db" in files
    assert files == private(files, data_dir)
    assert mode(data_dir) == 0o700
    assert "accessible by group or others" not in ran.stderr  # nothing to fix on a new one


@pytest.mark.long
def test_an_installation_left_readable_is_restricted_at_the_next_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert echo_ai("experiments", "list", data_dir=data_dir).returncode == 0
    # What an older version left behind: a 0755 directory, 0644 files (a WAL after a crash).
    (data_dir / "echo-ai.db-wal").touch()
    left = [data_dir, *data_dir.iterdir()]
    assert {path.name for path in left} >= {"echo-ai.db", "echo-ai.db.migrate-lock"}
    for path in left:
        path.chmod(0o755 if path.is_dir() else 0o644)

    listed = echo_ai("experiments", "list", "--json", data_dir=data_dir)

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "[]"
    assert mode(data_dir) == 0o700
    files = modes(data_dir)
    assert "echo-ai.db" in files and files == private(files, data_dir)
    for path in left:
        assert f"{path} was accessible by group or others" in listed.stderr


# --- the functions ---------------------------------------------------------------------


def test_a_new_directory_is_private_and_its_parents_are_made(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data"
    private_directory(target)
    assert mode(target) == 0o700
    private_directory(target)  # again: nothing to do
    assert mode(target) == 0o700


def test_a_new_file_is_created_private_and_an_existing_one_keeps_its_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    created = tmp_path / "new.db"
    private_file(created, create=True)
    assert created.read_bytes() == b"" and mode(created) == 0o600

    existing = tmp_path / "old.db"
    existing.write_bytes(b"rows")
    existing.chmod(0o664)
    with caplog.at_level(logging.WARNING, logger="echo_ai.security.files"):
        private_file(existing, create=True)
        private_file(existing, create=True)  # already private: no second warning
    assert existing.read_bytes() == b"rows" and mode(existing) == 0o600
    assert [record.getMessage() for record in caplog.records] == [
        f"{existing} was accessible by group or others (-rw-rw-r--); "
        "restricted it to its owner (-rw-------)"
    ]


def test_missing_files_are_left_missing(tmp_path: Path) -> None:
    private_file(tmp_path / "absent-wal")
    private_file(tmp_path / "no-such-dir" / "x.db", create=True)
    assert list(tmp_path.iterdir()) == []


def test_a_path_that_cannot_be_restricted_is_warned_about_and_the_start_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)

    def refuse(self: Path, mode: int) -> None:  # as chmod answers for another user's path
        raise PermissionError(1, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "chmod", refuse)
    with caplog.at_level(logging.WARNING, logger="echo_ai.security.files"):
        private_directory(shared)
    assert mode(shared) == 0o755
    assert caplog.records[0].getMessage() == (
        f"{shared} is accessible by group or others (drwxr-xr-x) and could not be "
        f"restricted (Operation not permitted): run chmod 700 {shared}"
    )
