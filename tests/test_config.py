from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from echo_ai.config import Settings, normalise_database_url, read_secret
from echo_ai.db import create_engine


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_database_urls_use_async_drivers(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'echo-ai.db'}"


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@h/db")
    assert Settings().resolved_database_url == "postgresql+asyncpg://x@h/db"


async def test_pool_settings_reach_the_postgresql_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_AI_DATABASE__POOL_SIZE", "7")
    monkeypatch.setenv("ECHO_AI_DATABASE__MAX_OVERFLOW", "3")
    monkeypatch.setenv("ECHO_AI_DATABASE__POOL_RECYCLE_SECONDS", "600")
    settings = Settings(database_url="postgresql://u@127.0.0.1/db")
    engine = create_engine(settings)
    pool = engine.sync_engine.pool
    assert pool.size() == 7  # type: ignore[attr-defined]
    assert pool._max_overflow == 3  # type: ignore[attr-defined]
    assert pool._recycle == 600
    assert pool._pre_ping is True
    await engine.dispose()


def test_out_of_range_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_secrets_can_come_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "key"
    secret.write_text("sk-from-file\n", encoding="utf-8")
    monkeypatch.delenv("SOME_API_KEY", raising=False)
    monkeypatch.setenv("SOME_API_KEY_FILE", str(secret))
    assert read_secret("SOME_API_KEY") == "sk-from-file"
    monkeypatch.setenv("SOME_API_KEY", "sk-direct")
    assert read_secret("SOME_API_KEY") == "sk-direct"


def test_production_mode_settings_are_checked_together(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs REDIS_URL"):
        Settings(data_dir=tmp_path, executor="celery")
    with pytest.raises(ValidationError, match="redis:// or rediss://"):
        Settings(data_dir=tmp_path, redis_url="memcached://127.0.0.1")
    with pytest.raises(ValidationError, match="before it is re-delivered"):
        Settings(data_dir=tmp_path, worker={"chunk_time_limit_seconds": 4000})
    with pytest.raises(ValidationError, match="lease_seconds <= stalled_after_seconds"):
        Settings(data_dir=tmp_path, worker={"stalled_after_seconds": 30})  # lease: 60 s
    assert (
        Settings(
            data_dir=tmp_path, worker={"stalled_after_seconds": 30, "lease_seconds": 30}
        ).worker.lease_seconds
        == 30
    )
    slow = {"timeout_seconds": 600, "max_attempts": 4}  # 40 minutes for one call at most
    with pytest.raises(ValidationError, match="one call's timeout times its attempts"):
        Settings(data_dir=tmp_path, executor="celery", redis_url="redis://r", runner=slow)
    # The in-process executor has no chunk time limits: the same runner settings are fine.
    assert Settings(data_dir=tmp_path, runner=slow).runner.timeout_seconds == 600
