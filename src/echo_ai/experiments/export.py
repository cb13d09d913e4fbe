"""Exports of an experiment's iterations (CSV, JSON, JSON Lines), streamed.

The rows are read in batches of plain columns (no ORM objects), each batch with a keyset
query in a short session of its own, and turned into text as they come: memory stays
flat whatever the size, the first bytes leave at once, and no connection is held while
a slow client reads. The columns of each format are documented in ``docs/exports.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.analysis.extraction import Extraction
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.history import place_text, target_of
from echo_ai.experiments.schemas import IterationOut, StoredIteration
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.runs.models import Experiment, Iteration
from echo_ai.text import spreadsheet_safe

BATCH_SIZE = 1_000
"""Iterations read per query (and sent per chunk)."""


class Format(enum.StrEnum):
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.JSON: "application/json",
    Format.JSONL: "application/x-ndjson",
}

COLUMNS = [
    "experiment_id",
    "run",
    "provider",
    "model",
    "synthetic",
    "persona",
    "place",
    "iteration",
    "success",
    "answer_class",
    "stop_reason",
    "target_mentioned",
    "target_position",
    "target_sentiment",
    "target_sentiment_score",
    "brands_mentioned",
    "cited_domains",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "fee_usd",
    "model_version",
    "error",
    "answer",
    "redacted_at",
]
"""The CSV header, in order."""


_COLUMNS = [getattr(Iteration, field.name) for field in fields(StoredIteration)]


@dataclass(frozen=True)
class BatchInfo:
    run: int
    provider: str
    model: str
    synthetic: bool


@dataclass(frozen=True)
class AskedAs:
    """How the experiment asked (the same for all its answers): the export's header in
    JSON, and the ``persona`` and ``place`` columns in CSV."""

    name: str
    prompt: str
    persona: str | None
    user_location: dict[str, Any] | None
    target: str

    @property
    def place(self) -> str:
        """The place in words (``Paris, FR``), empty when none was given."""
        return place_text(self.user_location) if self.user_location else ""


@dataclass(frozen=True)
class ExportSource:
    """What an export needs to know about the experiment, read before it starts (the
    rows themselves are read while it runs)."""

    experiment_id: uuid.UUID
    asked: AskedAs
    batch_ids: tuple[uuid.UUID, ...]
    """In :func:`~echo_ai.experiments.service.batch_order`."""
    batches: dict[uuid.UUID, BatchInfo]
    stored: int
    """Iterations stored when the export started, by the batch runs' counters."""

    @property
    def target(self) -> str:
        return self.asked.target

    def json_header(self) -> str:
        """The JSON document's fields before ``items``: the experiment, how it asked, and
        each batch run's run, provider and model (the items name their batch run)."""
        head = {
            "experiment_id": str(self.experiment_id),
            "experiment": {
                "name": self.asked.name,
                "prompt": self.asked.prompt,
                "persona": self.asked.persona,
                "user_location": self.asked.user_location,
                "target": self.asked.target,
            },
            "batch_runs": [
                {"id": str(batch_id), **dataclasses.asdict(self.batches[batch_id])}
                for batch_id in self.batch_ids
            ],
        }
        return json.dumps(head)[:-1]

    @classmethod
    def of(cls, experiment: Experiment) -> ExportSource:
        """From an experiment loaded with all its batch runs."""
        return cls(
            experiment_id=experiment.id,
            asked=AskedAs(
                name=experiment.name,
                prompt=experiment.prompt,
                persona=experiment.persona,
                user_location=experiment.user_location,
                target=target_of(experiment),
            ),
            batch_ids=tuple(experiment_service.batch_order(experiment)),
            batches={
                batch.id: BatchInfo(batch.round, batch.provider, batch.model, batch.synthetic)
                for batch in experiment.batch_runs
            },
            stored=sum(
                batch.succeeded + batch.failed + batch.not_counted
                for batch in experiment.batch_runs
            ),
        )


async def begin(
    session: AsyncSession, experiment: Experiment, fmt: Format, *, actor: Actor
) -> ExportSource:
    """The export use case: audit it (in the caller's transaction, which commits before
    the first byte leaves) and describe what :func:`chunks` will stream."""
    source = ExportSource.of(experiment)
    await audit.record_about(
        session,
        Action.EXPORTED,
        experiment,
        target_type="experiment",
        actor=actor,
        details={"format": str(fmt), "rows": source.stored},
    )
    return source


async def record_read(
    session: AsyncSession, experiment: Experiment, rows: int, *, actor: Actor
) -> None:
    """Audit a page of stored answers read in bulk (the API's iterations listing): one
    event per page, with how many rows it held (an access record, PRIV-03)."""
    await audit.record_about(
        session,
        Action.ITERATIONS_READ,
        experiment,
        target_type="experiment",
        actor=actor,
        details={"rows": rows},
    )


def _csv_row(source: ExportSource, row: StoredIteration) -> list[object]:
    batch = source.batches[row.batch_run_id]
    extraction = Extraction.from_dict(row.extraction) if row.extraction else None
    target_sentiment = extraction.sentiment.get(source.target) if extraction else None
    return [
        source.experiment_id,
        batch.run,
        batch.provider,
        batch.model,
        batch.synthetic,
        source.asked.persona or "",
        source.asked.place,
        row.index,
        row.success,
        row.answer_class or "",
        row.stop_reason or "",
        extraction.mentioned(source.target) if extraction else "",
        (extraction.position(source.target) or "") if extraction else "",
        target_sentiment.label if target_sentiment else "",
        f"{target_sentiment.score:.4f}" if target_sentiment else "",
        "; ".join(extraction.brands_in_order) if extraction else "",
        "; ".join(extraction.cited_domains) if extraction else "",
        "" if row.latency_ms is None else round(row.latency_ms, 1),
        row.input_tokens if row.input_tokens is not None else "",
        row.output_tokens if row.output_tokens is not None else "",
        row.reasoning_tokens if row.reasoning_tokens is not None else "",
        _decimal(row.cost_usd),
        _decimal(row.fee_usd),
        row.model_version or "",
        f"{row.error_code}: {row.error_message}" if row.error_code else "",
        row.answer or "",
        row.redacted_at.isoformat() if row.redacted_at else "",
    ]


def _decimal(value: Decimal | None) -> str:
    """A stored amount in plain notation (``0.00000000``, never ``0E-8``); ``unknown``
    when there is none."""
    return "unknown" if value is None else format(value, "f")


def _csv_text(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows([spreadsheet_safe(value) for value in row] for row in rows)
    return out.getvalue()


def _json_item(row: StoredIteration) -> str:
    return IterationOut.of(row).model_dump_json()


async def chunks(
    session_factory: async_sessionmaker[AsyncSession],
    source: ExportSource,
    fmt: Format,
    *,
    batch_size: int = BATCH_SIZE,
) -> AsyncIterator[tuple[str, int]]:
    """The export as pieces of text, each with the number of iterations it holds: the
    header, one piece per ``batch_size`` iterations read, the closing text."""
    if fmt is Format.CSV:
        yield _csv_text([COLUMNS]), 0
    elif fmt is Format.JSON:
        yield source.json_header() + ',"items":[', 0
    after: tuple[uuid.UUID, int] | None = None
    separator = ""
    while True:
        async with session_factory() as session:
            found = await experiment_service.iteration_rows(
                session, source.batch_ids, *_COLUMNS, limit=batch_size, after=after
            )
        rows = [StoredIteration(**row._mapping) for row in found]
        if rows:
            if fmt is Format.CSV:
                text = _csv_text(_csv_row(source, row) for row in rows)
            elif fmt is Format.JSON:
                text = separator + ",".join(_json_item(row) for row in rows)
                separator = ","
            else:
                text = "".join(_json_item(row) + "\n" for row in rows)
            yield text, len(rows)
        if len(rows) < batch_size:
            break
        after = (rows[-1].batch_run_id, rows[-1].index)
    if fmt is Format.JSON:
        yield "]}", 0


async def write(
    session_factory: async_sessionmaker[AsyncSession],
    source: ExportSource,
    out: TextIO,
    fmt: Format = Format.CSV,
    *,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Write the export to ``out`` as it is read; return the number of iterations."""
    count = 0
    async for text, rows in chunks(session_factory, source, fmt, batch_size=batch_size):
        out.write(text)
        count += rows
    return count
