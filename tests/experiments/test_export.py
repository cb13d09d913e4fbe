"""Streamed exports (CSV, JSON, JSON Lines) of a multi-batch experiment, over HTTP and
from the generator the CLI shares."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update

from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.auth.models import User
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import export
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchStatus, Iteration
from echo_ai.workspaces.models import Membership
from tests.factories import brand_set, experiment_input
from tests.kit import app_runtime, register_and_login

pytestmark = pytest.mark.usefixtures("backend")

PROVIDERS = ["demo", "openai:gpt-4o-mini"]
PER_BATCH = 7


@dataclass(frozen=True)
class Seeded:
    """What was stored, in the order exports list it: (batch id, provider, model, index,
    answer, error code, cost) per iteration."""

    experiment_id: uuid.UUID
    rows: list[tuple[uuid.UUID, str, str, int, str | None, str | None, Decimal | None]]


def _answer(provider: str, index: int) -> str | None:
    if index == 3:
        return None  # a failed call
    if index == 5:
        return "=HYPERLINK('http://evil.example') HubSpot"  # a spreadsheet formula
    return f"{provider} answer {index}: 1. HubSpot 2. Salesforce"


async def _seed(
    runtime: Runtime, workspace_id: uuid.UUID | None = None, **overrides: Any
) -> Seeded:
    """An experiment with two finished batches of stored iterations (no provider called)."""
    matcher = BrandMatcher(brand_set())
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(providers=PROVIDERS, iterations=PER_BATCH, **overrides),
            chunk_size=25,
            workspace_id=workspace_id,
        )
        experiment = await experiment_service.get(session, created.id)
        batches = {batch.id: batch for batch in experiment.batch_runs}
        rows: list[tuple[uuid.UUID, str, str, int, str | None, str | None, Decimal | None]] = []
        for batch_id in experiment_service.batch_order(experiment):
            batch = batches[batch_id]
            for index in range(PER_BATCH):
                answer = _answer(batch.provider, index)
                cost = None if index == 6 else Decimal("0.00012") * (index + 1)
                session.add(
                    Iteration(
                        batch_run_id=batch.id,
                        index=index,
                        success=answer is not None,
                        answer=answer,
                        error_code=None if answer else "timeout",
                        error_message=None if answer else "no answer in 60 s",
                        latency_ms=100.0 + index,
                        cost_usd=cost,
                        citations=[],
                        sources=[],
                        search_queries=[],
                        extraction=(
                            matcher.extract(answer, citations=(), sources=()).to_dict()
                            if answer
                            else None
                        ),
                    )
                )
                code = None if answer else "timeout"
                rows.append((batch.id, batch.provider, batch.model, index, answer, code, cost))
            batch.status = BatchStatus.COMPLETED
            batch.succeeded, batch.failed = PER_BATCH - 1, 1
    return Seeded(created.id, rows)


async def _workspace_of(runtime: Runtime, email: str) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        workspace_id = await session.scalar(
            select(Membership.workspace_id).join(User).where(User.email == email)
        )
    assert workspace_id is not None
    return workspace_id


async def test_csv_json_and_jsonl_exports_stream_every_row_in_order(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    user = await register_and_login(client, "ada@example.com")
    seeded = await _seed(runtime, await _workspace_of(runtime, "ada@example.com"))
    url = f"/v1/experiments/{seeded.experiment_id}"
    expected_keys = [(str(batch_id), index) for batch_id, _, _, index, *_ in seeded.rows]

    response = await client.get(f"{url}/export.csv", headers=user)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f"experiment-{seeded.experiment_id}.csv" in response.headers["content-disposition"]
    reader = csv.reader(io.StringIO(response.text))
    assert next(reader) == export.COLUMNS
    rows = [dict(zip(export.COLUMNS, row, strict=True)) for row in reader]
    assert len(rows) == 2 * PER_BATCH
    for row, (_, provider, model, index, answer, code, cost) in zip(rows, seeded.rows, strict=True):
        assert row["experiment_id"] == str(seeded.experiment_id)
        assert (row["run"], row["persona"], row["place"]) == ("1", "", "")
        assert (row["provider"], row["model"], row["iteration"]) == (provider, model, str(index))
        assert row["success"] == str(answer is not None)
        assert row["cost_usd"] == "unknown" if cost is None else Decimal(row["cost_usd"]) == cost
        assert row["error"] == ("timeout: no answer in 60 s" if code else "")
        assert row["latency_ms"] == str(100.0 + index)
        if answer is None:
            assert row["answer"] == row["target_mentioned"] == row["target_position"] == ""
            assert row["target_sentiment"] == row["target_sentiment_score"] == ""
        elif answer.startswith("="):
            assert row["answer"] == "'" + answer  # the formula is neutralised
        else:
            assert row["answer"] == answer
            assert (row["target_mentioned"], row["target_position"]) == ("True", "1")
            assert row["brands_mentioned"] == "HubSpot; Salesforce"
            # A bare list says nothing either way about the target.
            assert (row["target_sentiment"], row["target_sentiment_score"]) == ("neutral", "0.0000")

    document = (await client.get(f"{url}/export.json", headers=user)).json()
    assert document["experiment_id"] == str(seeded.experiment_id)
    assert document["experiment"]["persona"] is None
    assert [(b["id"], b["run"], b["provider"]) for b in document["batch_runs"]] == list(
        dict.fromkeys((str(batch_id), 1, provider) for batch_id, provider, *_ in seeded.rows)
    )
    assert [(item["batch_run_id"], item["index"]) for item in document["items"]] == expected_keys
    assert [item["answer"] for item in document["items"]] == [row[4] for row in seeded.rows]
    assert [
        None if item["cost_usd"] is None else Decimal(item["cost_usd"])
        for item in document["items"]
    ] == [row[6] for row in seeded.rows]
    listed = await client.get(f"{url}/iterations", headers=user, params={"limit": 100})
    assert document["items"] == listed.json()["items"]

    lines = await client.get(f"{url}/export.jsonl", headers=user)
    assert lines.headers["content-type"] == "application/x-ndjson"
    assert lines.text.endswith("\n")
    assert [json.loads(line) for line in lines.text.splitlines()] == document["items"]

    async with transaction(runtime.session_factory) as session:
        audited = await session.scalars(
            select(AuditEvent.details)
            .where(
                AuditEvent.action == "experiment.exported",
                AuditEvent.target_id == str(seeded.experiment_id),
            )
            .order_by(AuditEvent.created_at)
        )
        assert list(audited) == [
            {"format": fmt, "rows": 2 * PER_BATCH} for fmt in ("csv", "json", "jsonl")
        ]


async def test_exports_of_another_workspace_are_404_and_not_audited(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    seeded = await _seed(runtime, await _workspace_of(runtime, "ada@example.com"))
    for fmt in ("csv", "json", "jsonl"):
        response = await client.get(
            f"/v1/experiments/{seeded.experiment_id}/export.{fmt}", headers=bob
        )
        assert response.status_code == 404, fmt
        assert response.json()["error"]["code"] == "not_found"
    async with transaction(runtime.session_factory) as session:
        exported = await session.scalar(
            select(AuditEvent.id).where(AuditEvent.action == "experiment.exported")
        )
        assert exported is None


async def test_the_export_is_read_in_batches_as_it_is_sent(runtime: Runtime) -> None:
    seeded = await _seed(runtime)
    async with transaction(runtime.session_factory) as session:
        source = export.ExportSource.of(await experiment_service.get(session, seeded.experiment_id))
    sizes = [
        rows
        async for _, rows in export.chunks(
            runtime.session_factory, source, export.Format.JSONL, batch_size=3
        )
    ]
    assert sizes == [3, 3, 3, 3, 2]  # 14 rows: the walk continues across the two batches

    # Rows are read after the first piece has been handed on: those deleted meanwhile
    # are not in the rest of the export.
    out: list[str] = []
    stream = export.chunks(runtime.session_factory, source, export.Format.CSV, batch_size=3)
    async for text, rows in stream:
        out.append(text)
        if rows:
            break
    async with transaction(runtime.session_factory) as session:
        await session.execute(delete(Iteration).where(Iteration.index >= 4))
    out.extend([text async for text, _ in stream])
    exported = list(csv.DictReader(io.StringIO("".join(out))))
    assert [(row["provider"], int(row["iteration"])) for row in exported] == [
        (provider, index) for provider in ("demo", "openai") for index in range(4)
    ]


async def test_write_returns_the_rows_it_wrote(runtime: Runtime) -> None:
    seeded = await _seed(runtime)
    async with transaction(runtime.session_factory) as session:
        source = export.ExportSource.of(await experiment_service.get(session, seeded.experiment_id))
    out = io.StringIO()
    written = await export.write(runtime.session_factory, source, out, export.Format.JSON)
    assert written == 2 * PER_BATCH
    document: dict[str, Any] = json.loads(out.getvalue())
    assert len(document["items"]) == 2 * PER_BATCH
    empty = dataclasses.replace(source, batch_ids=(), batches={}, stored=0)
    out = io.StringIO()
    assert await export.write(runtime.session_factory, empty, out, export.Format.JSON) == 0
    assert json.loads(out.getvalue()) == {
        "experiment_id": str(seeded.experiment_id),
        "experiment": document["experiment"],
        "batch_runs": [],
        "items": [],
    }


def test_amounts_are_written_in_plain_notation() -> None:
    # PostgreSQL hands a zero NUMERIC(18, 8) back as Decimal("0E-8").
    assert export._decimal(Decimal("0E-8")) == "0.00000000"
    assert export._decimal(Decimal("0.00501")) == "0.00501"
    assert export._decimal(None) == "unknown"


async def test_a_redacted_answer_is_marked_in_every_export_format(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    """Retention's redaction shows as ``redacted_at`` in the CSV (the answer cell empty),
    the JSON export and the raw-answer listing alike."""
    runtime = app_runtime(started_app)
    user = await register_and_login(client, "ada@example.com")
    seeded = await _seed(runtime, await _workspace_of(runtime, "ada@example.com"))
    redacted_batch, *_ = seeded.rows[0]
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Iteration)
            .where(Iteration.batch_run_id == redacted_batch, Iteration.index == 0)
            .values(answer=None, reasoning=None, redacted_at=when)
        )
    url = f"/v1/experiments/{seeded.experiment_id}"

    response = await client.get(f"{url}/export.csv", headers=user)
    reader = csv.reader(io.StringIO(response.text))
    assert next(reader)[-1] == "redacted_at"
    rows = [dict(zip(export.COLUMNS, row, strict=True)) for row in reader]
    assert (rows[0]["answer"], rows[0]["redacted_at"]) == ("", when.isoformat())
    assert rows[0]["brands_mentioned"] == "HubSpot; Salesforce"  # the facts stay
    assert {row["redacted_at"] for row in rows[1:]} == {""}

    items = (await client.get(f"{url}/export.json", headers=user)).json()["items"]
    listed = (await client.get(f"{url}/iterations", headers=user)).json()["items"]
    for first, rest in ((items[0], items[1:]), (listed[0], listed[1:])):
        assert first["answer"] is None
        assert datetime.fromisoformat(first["redacted_at"]) == when
        assert {item["redacted_at"] for item in rest} == {None}


async def test_exports_say_how_the_experiment_asked(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    """The persona and the place are columns of the CSV (two experiments' files can be
    concatenated and told apart); the JSON's header has them with the prompt."""
    runtime = app_runtime(started_app)
    user = await register_and_login(client, "ada@example.com")
    persona = "=I run a 10-person design agency"
    seeded = await _seed(
        runtime,
        await _workspace_of(runtime, "ada@example.com"),
        persona=persona,
        user_location={"country": "FR", "city": "Paris"},
    )
    url = f"/v1/experiments/{seeded.experiment_id}"

    response = await client.get(f"{url}/export.csv", headers=user)
    reader = csv.reader(io.StringIO(response.text))
    assert next(reader) == export.COLUMNS
    rows = [dict(zip(export.COLUMNS, row, strict=True)) for row in reader]
    assert {(row["persona"], row["place"]) for row in rows} == {("'" + persona, "Paris, FR")}

    document = (await client.get(f"{url}/export.json", headers=user)).json()
    assert document["experiment"] == {
        "name": document["experiment"]["name"],
        "prompt": "What is the best CRM for a 10-person startup?",
        "persona": persona,
        "user_location": {"country": "FR", "city": "Paris", "region": None, "timezone": None},
        "target": "HubSpot",
    }
    assert len(document["items"]) == 2 * PER_BATCH
