"""What goes in and out of a tracker's use cases (:mod:`echo_ai.experiments.trackers`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.clusters import PooledRate
from echo_ai.analysis.metrics import Rate
from echo_ai.experiments.schemas import MAX_NAME_LENGTH, ExperimentSettings, Prompt
from echo_ai.runs.models import ExperimentStatus
from echo_ai.text import SingleLine

MAX_TRACKER_PROMPTS = 200
"""Prompts one tracker holds at most (each is an experiment run on every provider)."""
MAX_TOPIC_LENGTH = 100
MAX_CANDIDATES = 50

CLUSTER_NOTE = (
    "Figures per topic and overall pool the prompts' latest complete runs; their 95% "
    "intervals treat each prompt as a cluster (answers to one prompt are correlated), so "
    "they are wider than if every answer were independent. Per prompt: that prompt's own "
    "Wilson intervals."
)


class TrackerPromptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: Prompt
    topic: Annotated[str, SingleLine(max_length=MAX_TOPIC_LENGTH)] | None = None
    """A group of prompts with figures of its own (blank: none)."""

    @field_validator("topic")
    @classmethod
    def _topic_or_none(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


def check_distinct(prompts: list[TrackerPromptIn]) -> None:
    """Refuse the same prompt twice (compared without case and spacing)."""
    seen: dict[str, int] = {}
    for number, item in enumerate(prompts, start=1):
        key = " ".join(item.prompt.casefold().split())
        if key in seen:
            raise ValueError(f"prompt {number} repeats prompt {seen[key]}: {item.prompt[:80]!r}")
        seen[key] = number


PromptList = Annotated[list[TrackerPromptIn], Field(min_length=1, max_length=MAX_TRACKER_PROMPTS)]


class TrackerCreate(ExperimentSettings):
    """A tracker: its name, its prompts (each becomes an experiment) and how every one of
    them is asked (the fields of an experiment but its name and prompt)."""

    name: Annotated[str, SingleLine(min_length=1, max_length=MAX_NAME_LENGTH)]
    prompts: PromptList

    @model_validator(mode="after")
    def _distinct_prompts(self) -> TrackerCreate:
        check_distinct(self.prompts)
        return self


class TrackerPromptsAdd(BaseModel):
    """Prompts to add to a tracker, asked as its other prompts are."""

    model_config = ConfigDict(extra="forbid")

    prompts: PromptList

    @model_validator(mode="after")
    def _distinct_prompts(self) -> TrackerPromptsAdd:
        check_distinct(self.prompts)
        return self


class CandidatesIn(BaseModel):
    """Ask a provider for candidate prompts (nothing is stored or run)."""

    model_config = ConfigDict(extra="forbid")

    brand_profile_id: uuid.UUID | None = None
    """A stored brand profile: its brands and its keywords. Or give ``brands``."""
    brands: BrandSet | None = None
    """The brands typed in place (the target, then competitors), as an experiment takes them."""
    category: Annotated[str, SingleLine(max_length=200)] | None = None
    """What the brand sells, in a few words ("CRM software"); the profile's keywords are
    used too."""
    provider: Annotated[str, SingleLine(min_length=1, max_length=200)] = "demo"
    count: Annotated[StrictInt, Field(ge=1, le=MAX_CANDIDATES)] = 10

    @model_validator(mode="after")
    def _brands_given_once(self) -> Self:
        if (self.brands is None) == (self.brand_profile_id is None):
            raise ValueError("give either brands or brand_profile_id")
        return self


class CandidatesOut(BaseModel):
    candidates: list[str]
    provider: str
    synthetic: bool
    """The offline demo provider wrote them (plausible, not from a real model)."""
    cost_usd: str | None
    """What the call cost (USD decimal string; None when unknown or free)."""
    input_tokens: int
    output_tokens: int


class PooledRateOut(BaseModel):
    """A rate pooled over prompts, with the 95% interval over prompts as clusters."""

    numerator: int
    denominator: int
    prompts: int
    """Prompts pooled (those with answers)."""
    value: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    """``cluster-t`` (cluster-robust t interval over prompts) or ``none``."""
    note: str | None

    @classmethod
    def of(cls, rate: PooledRate) -> PooledRateOut:
        return cls(
            numerator=rate.numerator,
            denominator=rate.denominator,
            prompts=rate.clusters,
            value=rate.estimate,
            ci_low=rate.low,
            ci_high=rate.high,
            method=rate.method,
            note=rate.note,
        )


class TrackerFiguresOut(BaseModel):
    """A group's figures (a topic, or the whole tracker)."""

    topic: str | None
    """None: overall (or the prompts without a topic, in ``topics``)."""
    prompts: int
    prompts_with_results: int
    visibility: PooledRateOut
    top1: PooledRateOut
    top3: PooledRateOut
    citation_rate: PooledRateOut
    mention_rates: dict[str, PooledRateOut]


class TrackerPromptOut(BaseModel):
    experiment_id: uuid.UUID
    prompt: str
    topic: str | None
    status: ExperimentStatus
    run: int | None
    """The latest complete run whose figures are shown (None: none yet)."""
    synthetic: bool
    visibility: Rate | None
    top1: Rate | None
    top3: Rate | None
    citation_rate: Rate | None


class TrackerPointOut(BaseModel):
    """The tracker's overall visibility at one point of its history: each prompt's
    ``runs_back``-th latest complete run, pooled over prompts."""

    runs_back: int
    """0: each prompt's latest complete run (the figures of ``overall``); 1: the run
    before; and so on."""
    started_at: datetime
    """When the latest of the runs pooled started."""
    prompts: int
    """Prompts with a complete run this far back."""
    synthetic: bool
    visibility: PooledRateOut


class TrackerOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    prompts: int
    topics: list[str]


class TrackerDetail(TrackerOut):
    target: str | None
    providers: list[str]
    synthetic: bool
    """Some figures come from the offline demo provider's answers."""
    note: str = CLUSTER_NOTE
    overall: TrackerFiguresOut
    by_topic: list[TrackerFiguresOut]
    prompt_results: list[TrackerPromptOut]
    over_time: list[TrackerPointOut]
    """Overall visibility over the prompts' recent complete runs, oldest first (at most
    ``RECENT_RUNS``; one point until the prompts have run again, as a schedule does)."""


class TrackerCreated(BaseModel):
    tracker: TrackerOut
    experiment_ids: list[uuid.UUID]
