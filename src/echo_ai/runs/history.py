"""A model's typical answer length, from the figures its recent batches stored.

What the pre-run estimate (:mod:`echo_ai.billing.estimate`) and the runner's per-call
reservation (:func:`echo_ai.runs.service.claim`) price an answer at, once a model has
answered in the workspace before. Only batch rows are read (their stored metrics hold the
token totals of their answers, and their counters how many answers that is): never the
iterations, and never more than :data:`RECENT_BATCHES` rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.runs.models import BatchRun, BatchStatus, Experiment

RECENT_BATCHES = 20
"""Finished batches of a model read, the most recent first."""

_WITH_METRICS = (BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.BUDGET_EXHAUSTED)


@dataclass(frozen=True)
class TypicalTokens:
    input_tokens: int
    """Per answer, rounded up."""
    output_tokens: int
    answers: int
    """How many answers the figures come from."""


async def typical_tokens(
    session: AsyncSession, workspace_id: uuid.UUID | None, vendor: str, model: str
) -> TypicalTokens | None:
    """The mean tokens in and out of the answers (complete, truncated, refused or empty:
    every one was billed) of the workspace's last :data:`RECENT_BATCHES` finished batches
    of ``vendor:model``; None when there are none (or no workspace). Batches from the
    offline demo provider are never counted."""
    if workspace_id is None:
        return None
    rows = (
        await session.execute(
            select(
                BatchRun.metrics,
                BatchRun.succeeded,
                BatchRun.truncated,
                BatchRun.refused,
                BatchRun.empty,
            )
            .join(Experiment, Experiment.id == BatchRun.experiment_id)
            .where(
                Experiment.workspace_id == workspace_id,
                BatchRun.provider == vendor,
                BatchRun.model == model,
                BatchRun.synthetic.is_(False),
                BatchRun.status.in_(_WITH_METRICS),
            )
            .order_by(BatchRun.finished_at.desc())
            .limit(RECENT_BATCHES)
        )
    ).all()
    answers = tokens_in = tokens_out = 0
    for row in rows:
        metrics = row.metrics or {}
        count = row.succeeded + row.truncated + row.refused + row.empty
        got_in, got_out = metrics.get("input_tokens"), metrics.get("output_tokens")
        if count <= 0 or not isinstance(got_in, int) or not isinstance(got_out, int):
            continue
        answers += count
        tokens_in += got_in
        tokens_out += got_out
    if answers == 0:
        return None
    return TypicalTokens(
        input_tokens=-(-tokens_in // answers),
        output_tokens=-(-tokens_out // answers),
        answers=answers,
    )
