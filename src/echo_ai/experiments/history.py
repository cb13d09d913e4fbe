"""Reading an experiment for its pages: the runs over time, one run's batches, and its
answers filtered and paged.

Readers never scan iterations without a bound: the runs' figures are the stored metrics
(batch rows and ``experiment_rounds``), and a filtered page of answers reads index ranges
of ``(batch_run_id, index)`` from the cursor on, at most :data:`SCAN_LIMIT` positions per
request, so its cost does not grow with the depth of the page nor with the size of the
run, however rare the answers it looks for.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.db import keyset_after
from echo_ai.runs.models import BatchRun, Experiment, ExperimentRound, Iteration

SCAN_LIMIT = 5_000
"""Iteration positions one filtered page looks through at most; when it finds fewer
answers than asked, the page says how far it looked and continues from there."""


async def rounds(
    session: AsyncSession, experiment_id: uuid.UUID, *, limit: int, before_round: int | None = None
) -> list[ExperimentRound]:
    """The stored runs (rounds) of the experiment with their combined metrics, newest
    first, ``limit`` at a time (keyset on the unique ``(experiment_id, round)``)."""
    query = (
        select(ExperimentRound)
        .where(ExperimentRound.experiment_id == experiment_id)
        .order_by(ExperimentRound.round.desc())
        .limit(limit)
    )
    if before_round is not None:
        query = query.where(
            keyset_after((ExperimentRound.round,), (before_round,), descending=True)
        )
    return list(await session.scalars(query))


async def round_batches(
    session: AsyncSession, experiment_id: uuid.UUID, rounds_: Sequence[int]
) -> list[BatchRun]:
    """The batch runs of these runs of the experiment, by run then as created."""
    if not rounds_:
        return []
    return list(
        await session.scalars(
            select(BatchRun)
            .where(BatchRun.experiment_id == experiment_id, BatchRun.round.in_(list(rounds_)))
            .order_by(BatchRun.round, BatchRun.created_at, BatchRun.id)
        )
    )


class Shown(enum.StrEnum):
    """Which answers a page lists."""

    ALL = "all"
    MENTIONED = "mentioned"
    """Successful answers that name the target brand."""
    NOT_MENTIONED = "not-mentioned"
    FAILED = "failed"


@dataclass(frozen=True)
class AnswersPage:
    items: list[Iteration]
    after: tuple[uuid.UUID, int] | None
    """Where the next page starts (the last position looked at); None after the last."""
    exhausted_scan: bool
    """The page stopped at :data:`SCAN_LIMIT` positions with fewer answers than asked."""


def _mentions_target(dialect: str, target: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        found: ColumnElement[bool] = type_coerce(Iteration.extraction, JSONB)[
            "brands_in_order"
        ].contains([target])
        return found
    each = func.json_each(Iteration.extraction, "$.brands_in_order").table_valued("value")
    return exists().select_from(each).where(each.c.value == target)


def _filter(dialect: str, shown: Shown, target: str) -> list[ColumnElement[bool]]:
    if shown is Shown.FAILED:
        return [Iteration.success.is_(False)]
    if shown is Shown.MENTIONED:
        return [Iteration.success.is_(True), _mentions_target(dialect, target)]
    if shown is Shown.NOT_MENTIONED:
        return [Iteration.success.is_(True), ~_mentions_target(dialect, target)]
    return []


async def answers_page(
    session: AsyncSession,
    batches: Sequence[BatchRun],
    *,
    target: str,
    shown: Shown = Shown.ALL,
    limit: int,
    after: tuple[uuid.UUID, int] | None = None,
    scan_limit: int = SCAN_LIMIT,
) -> AnswersPage:
    """Up to ``limit`` iterations of ``batches`` (in that order, then by index) that
    ``shown`` selects, after the position ``after`` (a batch of ``batches`` and an index).

    Each query reads one index range ``batch_run_id = b AND index > i AND index <= j`` of
    the unique ``(batch_run_id, index)`` index; indexes of a batch lie below its
    ``iterations_requested``, so the ranges end there.
    """
    dialect = session.get_bind().dialect.name
    conditions = _filter(dialect, shown, target)
    order = [batch.id for batch in batches]
    start, last = (0, -1) if after is None else (order.index(after[0]), after[1])
    items: list[Iteration] = []
    budget = scan_limit
    for batch in batches[start:]:
        while last + 1 < batch.iterations_requested:
            if budget <= 0:
                return AnswersPage(items, (batch.id, last), exhausted_scan=True)
            upper = min(last + budget, batch.iterations_requested - 1)
            found = list(
                await session.scalars(
                    select(Iteration)
                    .where(
                        Iteration.batch_run_id == batch.id,
                        Iteration.index > last,
                        Iteration.index <= upper,
                        *conditions,
                    )
                    .order_by(Iteration.index)
                    .limit(limit - len(items))
                )
            )
            items.extend(found)
            if len(items) == limit:
                return AnswersPage(items, (batch.id, items[-1].index), exhausted_scan=False)
            budget -= upper - last
            last = upper
        last = -1
    return AnswersPage(items, None, exhausted_scan=False)


async def experiment_round(
    session: AsyncSession, experiment: Experiment, round_: int
) -> ExperimentRound | None:
    """One stored run of the experiment (None if it has no such run)."""
    return await session.scalar(
        select(ExperimentRound).where(
            ExperimentRound.experiment_id == experiment.id, ExperimentRound.round == round_
        )
    )
