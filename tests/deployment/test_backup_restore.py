"""A real backup and restore, with the scripts docs/operations.md tells operators to run.

``scripts/backup.sh`` dumps a migrated database holding users, a workspace and a demo
experiment's batch run and iterations; ``scripts/check-restore.sh`` restores the dump into
a scratch database, compares it with the backup's manifest and runs ``echo-ai migrate``
against it. The test then checks the restored rows itself (not only the script's word) and
that a tampered manifest makes the check fail. Every database it creates is dropped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from echo_ai import migrate
from echo_ai.auth.models import User
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory
from echo_ai.workspaces.models import Membership, Role, Workspace
from tests.servers import (
    POSTGRES_URL,
    admin,
    database_url,
    postgres_unreachable,
    scratch_database,
)

pytestmark = pytest.mark.long


ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
KEY_TABLES = ("users", "workspaces", "memberships", "experiments", "batch_runs", "iterations")
TOOLS = ("psql", "pg_dump", "pg_restore", "createdb", "dropdb")


async def _snapshot(url: str) -> dict[str, object]:
    connection = await asyncpg.connect(url)
    try:
        state: dict[str, object] = {
            "alembic": await connection.fetchval("SELECT version_num FROM alembic_version")
        }
        for table in KEY_TABLES:
            state[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
        state["emails"] = sorted(
            row["email"] for row in await connection.fetch("SELECT email FROM users")
        )
        state["iteration_ids"] = sorted(
            str(row["id"]) for row in await connection.fetch("SELECT id FROM iterations")
        )
        return state
    finally:
        await connection.close()


def _libpq_env(tmp_path: Path) -> dict[str, str]:
    """The scripts take the server from libpq's variables, as an operator's shell would."""
    import urllib.parse

    parsed = urllib.parse.urlsplit(POSTGRES_URL)
    env = dict(os.environ)
    env.update(
        PGHOST=parsed.hostname or "127.0.0.1",
        PGPORT=str(parsed.port or 5432),
        PGUSER=urllib.parse.unquote(parsed.username or "postgres"),
        ECHO_AI_DATA_DIR=str(tmp_path / "data"),
        # The test's own interpreter, so the migration is the code under test.
        ECHO_AI_MIGRATE=f"{sys.executable} -m echo_ai.cli migrate",
    )
    if parsed.password:
        env["PGPASSWORD"] = urllib.parse.unquote(parsed.password)
    env.pop("DATABASE_URL", None)
    return env


@pytest.fixture
def source_database(tmp_path: Path) -> Iterator[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"PostgreSQL client tools not installed: {', '.join(missing)}")
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    with scratch_database("echo_ai_test_backup", migrated=False) as name:
        yield name


async def _populate(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        await migrate.upgrade(engine)
        async with create_session_factory(engine)() as session:
            for n in range(3):
                user = User(email=f"person{n}@example.com", password_hash="not-a-real-hash")
                workspace = Workspace(name=f"Workspace {n}", personal=True)
                session.add_all([user, workspace])
                await session.flush()
                session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.OWNER))
            await session.commit()
    finally:
        await engine.dispose()


def test_backup_then_restore_into_a_scratch_database(source_database: str, tmp_path: Path) -> None:
    source_url = database_url(source_database)
    asyncio.run(_populate(source_url))
    env = _libpq_env(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "echo_ai.cli", "run", "--prompt", "Best CRM for a startup?",
         "--brand", "HubSpot", "--competitor", "Salesforce", "--provider", "demo",
         "--iterations", "12"],
        env={**env, "DATABASE_URL": source_url},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    before = asyncio.run(_snapshot(source_url))
    assert before["users"] == 3
    assert before["iterations"] == 12

    dump = tmp_path / "backups" / "echo-ai.dump"
    dump.parent.mkdir()
    backup = subprocess.run(
        [str(SCRIPTS / "backup.sh"), source_url.replace("postgresql://", "postgresql+asyncpg://"),
         str(dump)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    manifest = dict(
        line.split("|", 1) for line in Path(f"{dump}.manifest").read_text().splitlines()
    )
    assert manifest["alembic_version"] == before["alembic"]
    assert manifest["rows.iterations"] == "12"
    assert manifest["rows.users"] == "3"
    assert dump.stat().st_mode & 0o077 == 0, "a backup must be private to its owner"

    restored = f"{source_database}_restore"
    try:
        check = subprocess.run(
            [str(SCRIPTS / "check-restore.sh"), "--keep", "--database", restored, str(dump)],
            env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        assert "restored database matches the manifest" in check.stderr
        assert "database migrated to head" in check.stderr
        assert asyncio.run(_snapshot(database_url(restored))) == before
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'))


def test_check_restore_fails_when_the_backup_lost_rows(
    source_database: str, tmp_path: Path
) -> None:
    source_url = database_url(source_database)
    asyncio.run(_populate(source_url))
    env = _libpq_env(tmp_path)
    dump = tmp_path / "echo-ai.dump"
    backup = subprocess.run(
        [str(SCRIPTS / "backup.sh"), source_url, str(dump)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    manifest = Path(f"{dump}.manifest")
    manifest.write_text(manifest.read_text().replace("rows.users|3", "rows.users|4"))

    restored = f"{source_database}_restore"
    try:
        check = subprocess.run(
            [str(SCRIPTS / "check-restore.sh"), "--database", restored, str(dump)],
            env=env, capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        assert check.returncode == 1
        assert "FAILED" in check.stderr
        assert "-rows.users|4" in check.stdout
        exists = asyncio.run(_exists(restored))
        assert not exists, "the scratch database is dropped even when the check fails"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'))


async def _exists(name: str) -> bool:
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        return bool(await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


def test_check_restore_refuses_an_existing_database(source_database: str, tmp_path: Path) -> None:
    """The scratch name must be new: the check never restores over a live database."""
    asyncio.run(_populate(database_url(source_database)))
    env = _libpq_env(tmp_path)
    dump = tmp_path / "echo-ai.dump"
    subprocess.run(
        [str(SCRIPTS / "backup.sh"), database_url(source_database), str(dump)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    check = subprocess.run(
        [str(SCRIPTS / "check-restore.sh"), "--database", source_database, str(dump)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert check.returncode != 0
    assert asyncio.run(_snapshot(database_url(source_database)))["users"] == 3
