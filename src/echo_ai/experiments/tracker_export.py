"""A tracker's figures as a file (CSV, or JSON): one row per figure, per prompt, per topic,
overall and over time, each with its counts and 95% interval. Columns in
``docs/exports.md`` ("Tracker exports").

The figures are the tracker's detail (:func:`echo_ai.experiments.trackers.detail`: stored
metrics, a constant number of queries), read before the first byte; the file is then sent
in pieces as it is encoded. No answer is in it, so it is not audited as an experiment's
export is.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from echo_ai.analysis.metrics import Rate
from echo_ai.experiments.tracker_schemas import PooledRateOut, TrackerDetail, TrackerFiguresOut
from echo_ai.text import spreadsheet_safe

ROWS_PER_PIECE = 200
"""Rows encoded per piece of the response."""


class Format(enum.StrEnum):
    CSV = "csv"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is Format.CSV else "application/json"


COLUMNS = [
    "tracker_id",
    "level",
    "topic",
    "experiment_id",
    "prompt",
    "run",
    "runs_back",
    "started_at",
    "metric",
    "brand",
    "numerator",
    "denominator",
    "prompts",
    "value",
    "ci_low",
    "ci_high",
    "interval",
    "synthetic",
    "note",
]
"""The CSV header, in order (and the fields of each JSON item)."""

METRICS = ("visibility", "top1", "top3", "citation_rate")


def _pooled(rate: PooledRateOut) -> dict[str, Any]:
    return {
        "numerator": rate.numerator,
        "denominator": rate.denominator,
        "prompts": rate.prompts,
        "value": rate.value,
        "ci_low": rate.ci_low,
        "ci_high": rate.ci_high,
        "interval": rate.method,
        "note": rate.note,
    }


def _own(rate: Rate) -> dict[str, Any]:
    return {
        "numerator": rate.numerator,
        "denominator": rate.denominator,
        "prompts": 1,
        "value": rate.value,
        "ci_low": rate.ci_low,
        "ci_high": rate.ci_high,
        "interval": "wilson" if rate.ci_low is not None else "none",
        "note": None,
    }


def _group_rows(
    detail: TrackerDetail, level: str, group: TrackerFiguresOut
) -> Iterator[dict[str, Any]]:
    common = {"level": level, "topic": group.topic, "synthetic": detail.synthetic}
    for metric in METRICS:
        yield {**common, "metric": metric, **_pooled(getattr(group, metric))}
    for brand, rate in group.mention_rates.items():
        yield {**common, "metric": "mention_rate", "brand": brand, **_pooled(rate)}


def items(detail: TrackerDetail) -> Iterator[dict[str, Any]]:
    """Every figure of the tracker as a row of :data:`COLUMNS` (absent ones None): the
    overall figures, each topic's, each prompt's latest complete run (a prompt without
    one has no row), then overall visibility over time, oldest first."""
    for row in _rows(detail):
        yield {column: row.get(column) for column in COLUMNS} | {"tracker_id": str(detail.id)}


def _rows(detail: TrackerDetail) -> Iterator[dict[str, Any]]:
    yield from _group_rows(detail, "overall", detail.overall)
    for group in detail.by_topic:
        yield from _group_rows(detail, "topic", group)
    for prompt in detail.prompt_results:
        for metric in METRICS:
            rate: Rate | None = getattr(prompt, metric)
            if rate is not None:
                yield {
                    "level": "prompt",
                    "topic": prompt.topic,
                    "experiment_id": str(prompt.experiment_id),
                    "prompt": prompt.prompt,
                    "run": prompt.run,
                    "metric": metric,
                    "synthetic": prompt.synthetic,
                    **_own(rate),
                }
    for point in detail.over_time:
        yield {
            "level": "over_time",
            "runs_back": point.runs_back,
            "started_at": point.started_at.isoformat(),
            "metric": "visibility",
            "synthetic": point.synthetic,
            **_pooled(point.visibility),
        }


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return spreadsheet_safe(value)


def _csv_text(rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


def _pieces(detail: TrackerDetail) -> Iterator[list[dict[str, Any]]]:
    piece: list[dict[str, Any]] = []
    for row in items(detail):
        piece.append(row)
        if len(piece) == ROWS_PER_PIECE:
            yield piece
            piece = []
    if piece:
        yield piece


def chunks(detail: TrackerDetail, fmt: Format) -> Iterator[str]:
    """The export as pieces of text: the header (or the document's opening), then the rows
    :data:`ROWS_PER_PIECE` at a time, then the closing text."""
    if fmt is Format.CSV:
        yield _csv_text([COLUMNS])
        for piece in _pieces(detail):
            yield _csv_text([row[column] for column in COLUMNS] for row in piece)
        return
    head = {
        "tracker_id": str(detail.id),
        "name": detail.name,
        "target": detail.target,
        "providers": detail.providers,
        "synthetic": detail.synthetic,
        "note": detail.note,
    }
    yield json.dumps(head)[:-1] + ',"items":['
    separator = ""
    for piece in _pieces(detail):
        yield separator + ",".join(json.dumps(row) for row in piece)
        separator = ","
    yield "]}"


def filename(detail: TrackerDetail, fmt: Format) -> str:
    return f"tracker-{detail.id}.{fmt}"
