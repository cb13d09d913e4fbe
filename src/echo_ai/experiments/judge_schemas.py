"""Request and response models of the sentiment judge (docs/metrics.md, "Sentiment")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from echo_ai.providers.registry import MAX_SPEC_LENGTH
from echo_ai.text import SingleLine

JudgeProvider = Annotated[
    str,
    SingleLine(max_length=MAX_SPEC_LENGTH),
    Field(
        description="The judge, named as experiments name providers: ``vendor:model`` "
        "(e.g. ``openai:gpt-4o-mini``), or ``demo`` (offline, synthetic: it repeats the "
        "lexicon's verdicts, to try the path).",
        examples=["openai:gpt-4o-mini"],
    ),
]


class SentimentJudgeIn(BaseModel):
    """Judge the sentiment of a finished run's stored answers with a model, in the
    background."""

    model_config = ConfigDict(extra="forbid")

    provider: JudgeProvider
    run: Annotated[StrictInt, Field(ge=1)] | None = Field(
        default=None,
        description="The run (round) to judge; default: the latest. A judging covers one "
        "run's complete answers, all of them, up to ``limit`` (refused above it).",
    )


class JudgeEstimateOut(BaseModel):
    """What judging a run would ask and cost, before it starts (cheap at any size: the
    answers are counted from the batches' counters and the cost worked out from the first
    ``cost_from`` of them)."""

    provider: str
    run: int | None
    """The run a judging covers (the latest unless asked); ``null``: no run yet."""
    answers: int
    """The run's complete answers: those naming a tracked brand are asked about, one call
    each (at most this many calls)."""
    limit: int
    """The most complete answers one judging covers; above it a judging is refused."""
    over_limit: bool
    cost_usd: str | None
    """About what the calls cost at most (each call's prompt in, its whole output limit
    out, at the price table's prices); ``null``: the model has no price."""
    cost_from: int
    """The answers the cost was worked out from (the run's first, in the listing order):
    equal to ``answers``, exact; fewer, the average call of these times ``answers``."""
    synthetic: bool


class JudgeFailuresOut(BaseModel):
    invalid_output: int = 0
    """The judge answered, but not with a valid verdict on every brand asked about."""
    provider_error: int = 0
    """The call failed (after the adapter's retries)."""
    not_sent: int = 0
    """Not asked: the budget refused the call (``stopped`` says so)."""


JudgingStatusName = Literal["queued", "running", "completed", "stopped", "failed"]


class SentimentJudgeOut(BaseModel):
    """A judging of a run's answers, done in the background: its status and progress
    (poll ``GET /v1/experiments/{id}/sentiment-judge``). Those judged show the judge's
    labels and scores (``scorer`` ``judge:vendor:model``); the others of the run keep the
    lexicon's."""

    id: uuid.UUID | None = None
    """``null`` only in a summary stored before judgings ran in the background."""
    provider: str
    scorer: str
    """The ``scorer`` the judged brands' sentiment carries: ``judge:`` and the provider."""
    synthetic: bool
    """The offline demo judge: its verdicts are the lexicon's, labelled synthetic."""
    status: JudgingStatusName = "completed"
    """``queued``, ``running``, then ``completed``, ``stopped`` (asked to, or a budget
    refused a call: what was judged is kept) or ``failed``."""
    run: int | None = None
    """The run judged (``null`` in a summary stored before: every run)."""
    answers: int
    """The run's complete answers (those naming a tracked brand are asked about)."""
    read: int = 0
    """Of ``answers``, those done so far (progress)."""
    judged: int
    failed: JudgeFailuresOut
    cost_usd: str | None
    """What the calls so far cost by the price table (counted in the month's spend as a
    "Sentiment judge" line); ``null``: the model has no price."""
    stopped: str | None = None
    """Why judging stopped or failed before the last answer, else ``null``."""
    stop_requested: bool = False
    created_at: datetime | None = None
    judged_at: datetime | None = None
    """When it ended (``null`` while it runs)."""
