"""Adaptive sampling in the runner: a batch asked in rounds until its precision is reached.

An experiment with a :class:`Precision` plans each provider's batch at its maximum
(``iterations``), in chunks of :data:`echo_ai.analysis.sampling.ROUND` answers that run
one after the other. After each chunk the engine calls :func:`look`: the chunk's answers
are tallied (the numerator and denominator of the precision's rate, stored per chunk in
``batch_runs.looks`` so a chunk run again is tallied again, never twice), the tallies are
added up, and the stopping rule of :mod:`echo_ai.analysis.sampling` decides. Reached: the
batch's ``iterations_requested`` is lowered to the answers asked so far, and the usual
finalisation computes its metrics over every stored answer (the ordinary Wilson interval,
whose coverage under this rule the simulation shows). Not reached: the next chunk runs.

Only complete answers count (the rates' denominators), as in every metric: a provider that
fails half its calls is asked more calls for the same precision, up to the maximum.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.metrics import BatchMetrics, Rate
from echo_ai.analysis.sampling import StoppingRule
from echo_ai.analysis.significance import Metric
from echo_ai.analysis.statistics import wilson_half_width
from echo_ai.runs.models import BatchRun


class PrecisionMetric(enum.StrEnum):
    """The target's rates a precision can be asked for (a subset of the change tests'
    :class:`~echo_ai.analysis.significance.Metric`: a brand's mention rate is not one)."""

    VISIBILITY = "visibility"
    TOP1 = "top1"
    TOP3 = "top3"
    CITATION_RATE = "citation_rate"

    @property
    def label(self) -> str:
        """As the change tests name the same rate (``top-1 rate``...)."""
        return Metric(self.value).label

    def of(self, metrics: BatchMetrics) -> Rate:
        rate: Rate = getattr(metrics, self.value)
        return rate


@dataclass(frozen=True)
class Precision:
    """Sample until ``metric``'s 95% interval is at most ``±half_width`` (a fraction), from
    ``min_answers`` complete answers on, asking at most ``max_answers`` calls."""

    metric: PrecisionMetric
    half_width: float
    min_answers: int
    max_answers: int

    @property
    def rule(self) -> StoppingRule:
        return StoppingRule(
            self.half_width, min_answers=self.min_answers, max_answers=self.max_answers
        )

    @property
    def text(self) -> str:
        """``visibility ±5 points`` (points to one decimal when not whole)."""
        return f"{self.metric.label} ±{_points(self.half_width)} points"

    def stored(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "half_width": self.half_width,
            "min_answers": self.min_answers,
            "max_answers": self.max_answers,
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any], *, max_answers: int | None = None) -> Precision:
        """From its stored form; an experiment's has no maximum (its ``iterations`` is)."""
        return cls(
            metric=PrecisionMetric(stored["metric"]),
            half_width=float(stored["half_width"]),
            min_answers=int(stored["min_answers"]),
            max_answers=int(stored["max_answers"] if max_answers is None else max_answers),
        )


def batch_precision(
    experiment_precision: Mapping[str, Any] | None, iterations: int
) -> dict[str, Any] | None:
    """What a new batch stores: the experiment's precision with its maximum, or None."""
    if experiment_precision is None:
        return None
    return Precision.of(experiment_precision, max_answers=iterations).stored()


def first_chunk(stored: int, chunk_size: int, chunk_count: int) -> int:
    """The chunk an adaptive batch starts (or resumes) at: its chunks run in order and
    fill the indices from 0, so the first chunk not wholly stored is the one holding
    index ``stored`` (the last, when all are stored but the batch did not end)."""
    return max(0, min(stored // chunk_size, chunk_count - 1))


@dataclass(frozen=True)
class Tally:
    """The precision's rate over the answers of the looks made so far."""

    numerator: int
    denominator: int

    @classmethod
    def of(cls, looks: Mapping[str, Any] | None) -> Tally:
        counts = list((looks or {}).values())
        return cls(sum(int(x) for x, _ in counts), sum(int(n) for _, n in counts))

    def half_width(self) -> float | None:
        """The 95% Wilson interval's half-width now (None before any complete answer)."""
        if not self.denominator:
            return None
        return wilson_half_width(self.denominator, proportion=self.numerator / self.denominator)


async def look(
    session: AsyncSession,
    batch_run_id: uuid.UUID,
    precision: Precision,
    chunk: int,
    chunk_range: Callable[[int], range],
    tally_chunk: Callable[[range], Awaitable[tuple[int, int] | None]],
) -> int | None:
    """After chunk ``chunk`` (``chunk_range(n)``: chunk n's indices) of an adaptive batch: tally
    every chunk up to it that has no tally yet (``tally_chunk(indices)`` gives the rate's
    ``(numerator, denominator)`` over those stored indices, or None when some are not
    stored), then stop the batch or go on: the next chunk to run, None when the batch
    stopped, ran its last chunk, or could not be tallied now.

    Stopping lowers ``iterations_requested`` to the end of this chunk, in the caller's
    transaction, so the caller's finalisation then finds every iteration stored.
    """
    row = (
        await session.execute(
            select(BatchRun.looks, BatchRun.iterations_requested).where(BatchRun.id == batch_run_id)
        )
    ).one_or_none()
    if row is None:
        return None
    looks: dict[str, Any] = dict(row.looks or {})
    for earlier in range(chunk + 1):
        if str(earlier) in looks:
            continue
        counts = await tally_chunk(chunk_range(earlier))
        if counts is None:  # some answers of the chunk are missing: no look now
            return None
        looks[str(earlier)] = list(counts)
    upto = {key: value for key, value in looks.items() if int(key) <= chunk}
    tally = Tally.of(upto)
    end = chunk_range(chunk).stop
    reached = end < row.iterations_requested and precision.rule.reached(
        tally.numerator, tally.denominator
    )
    values: dict[str, Any] = {"looks": looks}
    if reached:
        values["iterations_requested"] = end
    await session.execute(update(BatchRun).where(BatchRun.id == batch_run_id).values(**values))
    if reached or end >= row.iterations_requested:
        return None
    return chunk + 1


@dataclass(frozen=True)
class Progress:
    """Where an adaptive batch stands, as users see it. Once the batch has metrics the
    figures are its stored rate's (a re-score with other brands changes them; the stop
    was decided on the brands tracked then); before, the tallies of its looks."""

    precision: Precision
    answers: int
    """Complete answers counted (the rate's denominator)."""
    half_width: float | None
    """The rate's 95% interval half-width over them (None before any)."""
    reached: bool
    """The target half-width is reached (with at least the minimum of answers)."""
    stopped_early: bool
    """The batch stopped before its maximum because the target was reached."""
    asked: int
    """The calls planned now (the maximum until the batch stops early)."""
    stored: int
    """The calls made and stored."""
    status: str
    """The batch's status (``running``, ``completed``, ``cancelled``...)."""

    @property
    def text(self) -> str:
        """One sentence, e.g. ``visibility ±5 points: reached after 120 of at most
        1,000 calls (±4.84 points over 118 complete answers)``."""
        target = self.precision.text
        now = (
            "no complete answer yet"
            if self.half_width is None
            else f"±{_points(self.half_width)} points over {self.answers:,} complete answers"
        )
        most = f"at most {self.precision.max_answers:,} calls"
        if self.status in _STOPPED:
            stopped = self.status.replace("_", " ")
            return f"{target}: {stopped} after {self.stored:,} of {most} ({now})"
        if self.stopped_early:
            if not self.reached:  # re-scored with other brands since the stop
                return (
                    f"{target}: reached after {self.asked:,} of {most} on the brands tracked "
                    f"then; since re-scored: {now}"
                )
            return f"{target}: reached after {self.asked:,} of {most} ({now})"
        if self.status not in _ENDED:
            return f"{target}: sampling in rounds of 10, {most} ({now} so far)"
        if self.reached:
            return f"{target}: reached at the maximum of {self.asked:,} calls ({now})"
        return f"{target}: not reached within the maximum of {self.asked:,} calls ({now})"

    @classmethod
    def of(cls, batch: BatchRun) -> Progress | None:
        if batch.precision is None:
            return None
        precision = Precision.of(batch.precision)
        stored_rate = (batch.metrics or {}).get(precision.metric.value)
        tally = (
            Tally(int(stored_rate["numerator"]), int(stored_rate["denominator"]))
            if isinstance(stored_rate, dict)
            else Tally.of(batch.looks)
        )
        half_width = tally.half_width()
        return cls(
            precision=precision,
            answers=tally.denominator,
            half_width=half_width,
            reached=half_width is not None
            and tally.denominator >= precision.min_answers
            and half_width <= precision.half_width,
            stopped_early=batch.iterations_requested < precision.max_answers,
            asked=batch.iterations_requested,
            stored=batch.stored,
            status=str(batch.status),
        )


_STOPPED = frozenset({"cancelled", "failed", "budget_exhausted"})
"""Statuses of a batch that stopped before its precision or its maximum decided."""
_ENDED = frozenset({"completed", *_STOPPED})


def _points(fraction: float) -> str:
    """Points to two decimals at most: ``0.0303`` → ``3.03``, ``0.05`` → ``5``."""
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".")
