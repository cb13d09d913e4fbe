"""Migrations build the schema the models describe, with the indexes the queries need."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, delete, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from echo_ai import migrate
from echo_ai.config import Settings
from echo_ai.db import create_engine
from echo_ai.errors import AppError
from echo_ai.execution.runtime import open_runtime
from echo_ai.models import Base
from echo_ai.runs.models import BatchRun, Experiment, Iteration
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID, LOCAL_WORKSPACE_NAME
from echo_ai.workspaces.models import Workspace
from tests.factories import brand_set, experiment_input, stored_batches, stored_experiment

pytestmark = pytest.mark.usefixtures("backend")


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _indexes(connection: Connection) -> dict[str, set[tuple[str, ...]]]:
    inspector = inspect(connection)
    out: dict[str, set[tuple[str, ...]]] = {}
    for table in ("experiments", "batch_runs", "iterations"):
        found = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        found |= {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)}
        out[table] = found  # type: ignore[assignment]
    return out


async def test_migrated_schema_matches_the_models_and_has_the_indexes(settings: Settings) -> None:
    engine = create_engine(settings)
    await migrate.upgrade(engine)
    async with engine.connect() as connection:
        assert await connection.run_sync(_diff) == []
        indexes = await connection.run_sync(_indexes)
    await engine.dispose()
    assert ("workspace_id", "status", "created_at") in indexes["experiments"]
    assert ("experiment_id", "status") in indexes["batch_runs"]
    assert ("batch_run_id", "success") in indexes["iterations"]
    assert ("batch_run_id", "index") in indexes["iterations"]


async def test_downgrade_and_upgrade_again(settings: Settings) -> None:
    engine = create_engine(settings)
    await migrate.upgrade(engine)
    await migrate.downgrade(engine, "base")
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert "experiments" not in tables
    await migrate.upgrade(engine)
    await migrate.ensure_current(engine)
    await engine.dispose()


async def test_a_database_behind_the_code_is_refused(tmp_path: Path) -> None:
    engine = create_engine(Settings(data_dir=tmp_path))
    with pytest.raises(AppError, match="run `echo-ai migrate`"):
        await migrate.ensure_current(engine)
    await engine.dispose()


async def test_first_runs_in_parallel_share_one_migration(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh")

    async def open_once() -> None:
        async with open_runtime(settings):
            pass

    await asyncio.gather(*(open_once() for _ in range(4)))
    engine = create_engine(settings)
    await migrate.ensure_current(engine)
    await engine.dispose()


async def test_command_line_experiments_move_into_the_local_workspace(settings: Settings) -> None:
    engine = create_engine(settings)
    await migrate.upgrade(engine)
    await migrate.downgrade(engine, "8e4b2f6c1d07")  # before the local workspace existed
    orphan = uuid.uuid4()
    async with engine.begin() as connection:
        now = datetime.now(UTC)
        await connection.execute(
            insert(Experiment.__table__).values(
                id=orphan,
                created_at=now,
                updated_at=now,
                workspace_id=None,
                name="from the CLI",
                prompt="best CRM?",
                brands=brand_set().model_dump(mode="json"),
                brands_revision=1,
                providers=["demo:demo-synthetic-1"],
                iterations=10,
                temperature=1.0,
                grounding=False,
                require_grounding=False,
                status="completed",
                runs=1,
                schedule_timezone="UTC",
                schedule_paused=False,
            )
        )
    await migrate.upgrade(engine)
    async with engine.connect() as connection:
        owner = await connection.scalar(
            select(Experiment.workspace_id).where(Experiment.id == orphan)
        )
        name = await connection.scalar(select(Workspace.name).where(Workspace.id == owner))
        await connection.execute(delete(Experiment.__table__).where(Experiment.id == orphan))
        await connection.commit()
    await engine.dispose()
    assert owner == LOCAL_WORKSPACE_ID
    assert name == LOCAL_WORKSPACE_NAME


def test_the_known_head_is_alembics_head() -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert heads == [migrate.HEAD], "a new migration: set echo_ai.migrate.HEAD to its revision"


async def test_the_revision_is_read_from_the_database(settings: Settings) -> None:
    engine = create_engine(settings)
    await migrate.upgrade(engine)
    assert await migrate.current_revisions(engine) == {migrate.HEAD}
    await migrate.downgrade(engine, "-1")
    behind = await migrate.current_revisions(engine)
    await migrate.downgrade(engine, "base")
    never_migrated = await migrate.current_revisions(engine)
    await migrate.upgrade(engine)
    await engine.dispose()
    assert behind and behind != {migrate.HEAD}
    assert never_migrated == set()


async def test_an_embedded_database_behind_the_code_is_migrated_on_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = create_engine(settings)
    await migrate.upgrade(engine)
    await migrate.downgrade(engine, "-1")
    async with open_runtime(settings):
        pass
    assert await migrate.current_revisions(engine) == {migrate.HEAD}
    await engine.dispose()


async def test_migrating_keeps_rows_that_reference_an_altered_table(settings: Settings) -> None:
    """SQLite alters ``batch_runs`` by copying and dropping it: its answers must survive
    (foreign keys are off while migrating), and foreign keys are enforced again after."""
    async with open_runtime(settings) as runtime:
        experiment_id = await stored_experiment(runtime.session_factory, iterations=5)
        batch = (await stored_batches(runtime.session_factory, experiment_id))[0]
        await runtime.runner.run_chunk(batch.id, 0)
        before = await _count(runtime.engine, Iteration)
        assert before == 5
        await migrate.downgrade(runtime.engine, "7a1c3e5d9b42")  # drops batch_runs columns
        await migrate.upgrade(runtime.engine)
        assert await _count(runtime.engine, Iteration) == before
        assert await _count(runtime.engine, BatchRun) == len(experiment_input().providers)
        with pytest.raises(IntegrityError):
            async with runtime.engine.begin() as connection:
                await connection.execute(
                    insert(Iteration.__table__).values(
                        id=uuid.uuid4(), batch_run_id=uuid.uuid4(), index=0, success=True
                    )
                )


async def _count(engine: AsyncEngine, model: type[Base]) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model)) or 0)
