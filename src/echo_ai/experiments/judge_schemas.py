"""Request and response models of the sentiment judge (docs/metrics.md, "Sentiment")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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
    """Judge the sentiment of a finished experiment's stored answers with a model."""

    model_config = ConfigDict(extra="forbid")

    provider: JudgeProvider


class JudgeEstimateOut(BaseModel):
    """What judging would ask and cost, before it starts."""

    provider: str
    answers: int
    """Complete answers that mention a tracked brand: one call each."""
    cost_usd: str | None
    """At most (each call's prompt in, its whole output limit out, at the price table's
    prices); ``null``: the model has no price."""
    synthetic: bool


class JudgeFailuresOut(BaseModel):
    invalid_output: int = 0
    """The judge answered, but not with a valid verdict on every brand asked about."""
    provider_error: int = 0
    """The call failed (after the adapter's retries)."""
    not_sent: int = 0
    """Not asked: the budget refused the call (``stopped`` says so)."""


class SentimentJudgeOut(BaseModel):
    """The last judging of an experiment's answers: those judged show the judge's labels
    and scores (``scorer`` ``judge:vendor:model``); the others keep the lexicon's."""

    provider: str
    scorer: str
    """The ``scorer`` the judged brands' sentiment carries: ``judge:`` and the provider."""
    synthetic: bool
    """The offline demo judge: its verdicts are the lexicon's, labelled synthetic."""
    answers: int
    judged: int
    failed: JudgeFailuresOut
    cost_usd: str | None
    """What the calls cost by the price table (counted in the month's spend as a
    "Sentiment judge" line); ``null``: the model has no price."""
    stopped: str | None = None
    """Why judging stopped before the last answer (a budget), else ``null``."""
    judged_at: datetime
