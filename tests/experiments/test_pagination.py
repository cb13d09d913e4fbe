"""Keyset pages of an experiment's iterations: every batch in turn, and a page deep into a
large batch starts an index range at its position (checked on the query plan)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import bindparam, event, text

from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.runs.models import BatchStatus, Iteration
from tests.factories import experiment_input

pytestmark = pytest.mark.usefixtures("backend")

_COLUMNS = (
    'id, batch_run_id, "index", success, attempts, searched,'
    " citations, sources, search_queries, created_at"
)
_SEED = {
    "postgresql": f"""
        INSERT INTO iterations ({_COLUMNS})
        SELECT gen_random_uuid(), :batch, i, true, 1, false, '[]', '[]', '[]', :now
        FROM generate_series(0, :count - 1) AS i
    """,
    "sqlite": f"""
        INSERT INTO iterations ({_COLUMNS})
        WITH RECURSIVE series(i) AS
            (SELECT 0 UNION ALL SELECT i + 1 FROM series WHERE i < :count - 1)
        SELECT lower(hex(randomblob(16))), :batch, i, 1, 1, 0, '[]', '[]', '[]', :now FROM series
    """,
}


async def _seed(runtime: Runtime, sizes: list[int]) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """An experiment with one finished batch per size, holding that many iterations; its
    id and the batch ids in listing order."""
    providers = ["demo", "openai:gpt-4o-mini", "anthropic"][: len(sizes)]
    seed = text(_SEED[runtime.engine.dialect.name]).bindparams(
        bindparam("batch", type_=Iteration.__table__.c.batch_run_id.type),
        bindparam("now", type_=Iteration.__table__.c.created_at.type),
    )
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session, experiment_input(providers=providers), chunk_size=25
        )
        experiment = await experiment_service.get(session, created.id)
        order = experiment_service.batch_order(experiment)
        for batch in experiment.batch_runs:
            batch.status = BatchStatus.COMPLETED
        await session.flush()
        for batch_id, size in zip(order, sizes, strict=True):
            if size == 0:
                continue
            await session.execute(seed, {"batch": batch_id, "count": size, "now": utcnow()})
    async with runtime.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    return created.id, order


async def _pages(
    runtime: Runtime, experiment_id: uuid.UUID, *, limit: int, after: tuple[uuid.UUID, int] | None
) -> list[list[tuple[uuid.UUID, int]]]:
    pages = []
    while True:
        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, experiment_id)
            found = await experiment_service.iterations_page(
                session, experiment, limit=limit, after=after
            )
        pages.append([(iteration.batch_run_id, iteration.index) for iteration in found])
        if len(found) < limit:
            return pages
        after = (found[-1].batch_run_id, found[-1].index)


async def test_pages_walk_each_batch_in_turn(runtime: Runtime) -> None:
    experiment_id, (first, empty, last) = await _seed(runtime, [5, 0, 4])
    pages = await _pages(runtime, experiment_id, limit=3, after=None)
    assert pages == [
        [(first, 0), (first, 1), (first, 2)],
        [(first, 3), (first, 4), (last, 0)],
        [(last, 1), (last, 2), (last, 3)],
        [],
    ]
    assert empty not in {batch for page in pages for batch, _ in page}
    assert await _pages(runtime, experiment_id, limit=10, after=(first, 4)) == [
        [(last, index) for index in range(4)]
    ]


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _plan_nodes(child))]


async def test_a_deep_page_starts_an_index_range_at_its_position(runtime: Runtime) -> None:
    experiment_id, (big, small) = await _seed(runtime, [20_000, 30])
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM iterations" in statement:
            statements.append((statement, parameters))

    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        engine = runtime.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            found = await experiment_service.iterations_page(
                session, experiment, limit=50, after=(big, 19_979)
            )
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert [(i.batch_run_id, i.index) for i in found] == [
        *((big, index) for index in range(19_980, 20_000)),
        *((small, index) for index in range(30)),
    ]
    assert len(statements) == 2  # one per batch reached

    async with runtime.engine.connect() as connection:
        for statement, parameters in statements:
            if runtime.engine.dialect.name == "postgresql":
                result = await connection.exec_driver_sql(
                    "EXPLAIN (FORMAT JSON) " + statement, parameters
                )
                plan = result.scalar_one()
                nodes = _plan_nodes(
                    (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
                )
                scans = [node for node in nodes if "Index Cond" in node]
                assert scans, nodes
                assert all("(index >" in node["Index Cond"] for node in scans), nodes
                assert not [
                    node for node in nodes if "Filter" in node or "Sort" in node["Node Type"]
                ]
                assert not [node for node in nodes if node["Node Type"] == "Seq Scan"]
            else:
                result = await connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, parameters
                )
                details = [row[3] for row in result]
                assert any("USING INDEX" in d and "index>?" in d for d in details), details
                assert not [d for d in details if d.startswith("SCAN") or "TEMP B-TREE" in d]
