"""CSV export of an experiment's iterations: one row per answer, every provider."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.extraction import Extraction
from echo_ai.runs.models import BatchRun, Experiment, Iteration

COLUMNS = [
    "experiment_id",
    "provider",
    "model",
    "synthetic",
    "iteration",
    "success",
    "target_mentioned",
    "target_position",
    "brands_mentioned",
    "cited_domains",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "model_version",
    "error",
    "answer",
]


async def _rows(session: AsyncSession, experiment: Experiment) -> AsyncIterator[list[object]]:
    target = str(experiment.brands["target"]["name"])
    result = await session.stream(
        select(BatchRun, Iteration)
        .join(Iteration, Iteration.batch_run_id == BatchRun.id)
        .where(BatchRun.experiment_id == experiment.id)
        .order_by(BatchRun.created_at, Iteration.index)
    )
    async for batch, iteration in result:
        extraction = Extraction.from_dict(iteration.extraction) if iteration.extraction else None
        yield [
            experiment.id,
            batch.provider,
            batch.model,
            batch.synthetic,
            iteration.index,
            iteration.success,
            extraction.mentioned(target) if extraction else "",
            (extraction.position(target) or "") if extraction else "",
            "; ".join(extraction.brands_in_order) if extraction else "",
            "; ".join(extraction.cited_domains) if extraction else "",
            "" if iteration.latency_ms is None else round(iteration.latency_ms, 1),
            iteration.input_tokens if iteration.input_tokens is not None else "",
            iteration.output_tokens if iteration.output_tokens is not None else "",
            iteration.cost_usd if iteration.cost_usd is not None else "unknown",
            iteration.model_version or "",
            f"{iteration.error_code}: {iteration.error_message}" if iteration.error_code else "",
            iteration.answer or "",
        ]


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: object) -> object:
    """Neutralise text a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


async def write_csv(session: AsyncSession, experiment: Experiment, out: TextIO) -> int:
    """Write the header and one row per iteration; return the number of rows."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    async for row in _rows(session, experiment):
        writer.writerow([_safe(value) for value in row])
        count += 1
    return count
