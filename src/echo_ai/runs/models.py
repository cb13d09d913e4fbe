"""What is measured and its state: experiments, their batch runs (one provider/model, N
iterations each) and the iterations.

This is the state layer: :mod:`echo_ai.runs.service` is the only writer of batch and
experiment statuses."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from echo_ai.db import (
    Base,
    JSONType,
    Money,
    Timestamps,
    UTCDateTime,
    UUIDPrimaryKey,
    str_enum,
    utcnow,
)

_NULLABLE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""JSON where None is SQL NULL (not JSON ``null``), so ``IS NULL`` finds what is missing."""


class ExperimentStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    """The latest run finished with at least one batch completed and at least one failed
    (the failed providers are named in its round's ``failed_providers``)."""
    FAILED = "failed"
    CANCELLED = "cancelled"
    BUDGET_EXHAUSTED = "budget_exhausted"
    """The latest run stopped because the budget would have been exceeded, and no batch
    of it failed; resumable once the budget allows."""


class Tracker(UUIDPrimaryKey, Timestamps, Base):
    """A named set of prompts (one experiment each, all with the same brands, providers
    and schedule), optionally grouped into topics: :mod:`echo_ai.experiments.trackers`."""

    __tablename__ = "trackers"
    __table_args__ = (Index("ix_trackers_workspace_created", "workspace_id", "created_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))


class Experiment(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "experiments"
    __table_args__ = (
        Index("ix_experiments_workspace_status_created", "workspace_id", "status", "created_at"),
        # The workspace's listing, newest first, continued by (created_at, id) keyset.
        Index("ix_experiments_workspace_created_id", "workspace_id", "created_at", "id"),
        Index("ix_experiments_created_at", "created_at"),
        Index("ix_experiments_next_run_at", "next_run_at"),
        Index("ix_experiments_tracker_id", "tracker_id"),
    )

    workspace_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    """Owning workspace (the command line's experiments belong to the local workspace,
    ``workspaces.local``); NULL only in rows older than that."""
    name: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    persona: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Who asks: a short description sent before the prompt as the vendor allows (a system
    message, Anthropic's ``system``, the Responses API's ``instructions``, Gemini's system
    instruction); None: the prompt alone."""
    brands: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """A :class:`echo_ai.analysis.brands.BrandSet` as JSON."""
    brands_revision: Mapped[int] = mapped_column(Integer, default=1)
    """Bumped whenever the brand definitions change and answers are re-scored."""
    providers: Mapped[list[str]] = mapped_column(JSONType)
    iterations: Mapped[int] = mapped_column(Integer)
    """Answers asked of each provider per run; with ``precision``, the most asked."""
    precision: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """Adaptive sampling's target (:class:`echo_ai.runs.adaptive.Precision`, without its
    maximum, which is ``iterations``): each provider is asked in rounds until a rate's
    interval is narrow enough. None: exactly ``iterations`` answers."""
    sentiment_judge: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """The last sentiment judging of its answers
    (:class:`echo_ai.experiments.judge_schemas.SentimentJudgeOut` as JSON): who judged,
    how many answers, failures, cost. None: the lexicon scorer's sentiment only (never
    judged, or re-scored since)."""
    temperature: Mapped[float] = mapped_column(Float, default=1.0)
    grounding: Mapped[bool] = mapped_column(Boolean, default=False)
    require_grounding: Mapped[bool] = mapped_column(Boolean, default=False)
    user_location: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    demo_probabilities: Mapped[dict[str, float] | None] = mapped_column(JSONType, nullable=True)
    """Brand name -> chance the offline demo provider mentions it (None: defaults)."""
    status: Mapped[ExperimentStatus] = mapped_column(
        str_enum(ExperimentStatus),
        default=ExperimentStatus.QUEUED,
    )
    """The status of the latest run."""
    brand_profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    """The brand profile the brands were copied from, if any (a later edit of the profile
    does not change the experiment)."""
    runs: Mapped[int] = mapped_column(Integer, default=1)
    """How many times the experiment has run; its latest batch runs have ``round == runs``."""
    schedule_cron: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """A five-field cron expression: the experiment runs again at each of its times."""
    schedule_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    schedule_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the scheduler starts the next run (NULL: no schedule, or paused)."""
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    budget_usd: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    """The most this experiment's calls may cost per calendar month (UTC); None: no cap of
    its own (the workspace's budget still applies)."""
    skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    skip_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why the scheduler last skipped a run (a quota, the budget...), shown until a run
    starts again."""
    tracker_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("trackers.id", ondelete="CASCADE"), nullable=True
    )
    """The tracker this experiment is one prompt of (None: a stand-alone experiment)."""
    topic: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """The tracker's topic this prompt belongs to (None: no topic)."""

    batch_runs: Mapped[list[BatchRun]] = relationship(
        back_populates="experiment",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="BatchRun.created_at",
    )


class BatchStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINALIZING = "finalizing"
    """All iterations are stored; one chunk has claimed the metrics computation."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BUDGET_EXHAUSTED = "budget_exhausted"
    """Stopped because the workspace's or the experiment's budget would be exceeded;
    resumable once the budget allows."""


FINISHED_STATUSES = frozenset(
    {
        BatchStatus.COMPLETED,
        BatchStatus.FAILED,
        BatchStatus.CANCELLED,
        BatchStatus.BUDGET_EXHAUSTED,
    }
)

FINISHED_EXPERIMENT_STATUSES = frozenset(
    {
        ExperimentStatus.COMPLETED,
        ExperimentStatus.PARTIAL,
        ExperimentStatus.FAILED,
        ExperimentStatus.CANCELLED,
        ExperimentStatus.BUDGET_EXHAUSTED,
    }
)
"""An experiment (or one of its runs) whose batches have all finished: nothing runs."""

ACTIVE_STATUSES = (BatchStatus.QUEUED, BatchStatus.RUNNING)
"""A batch waiting to run or running: what a run still has to do, a resume must not run
twice and a plan counts as going (``finalizing`` is neither: its iterations are done)."""


class BatchRun(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "batch_runs"
    __table_args__ = (
        Index("ix_batch_runs_experiment_status", "experiment_id", "status"),
        Index("ix_batch_runs_status_heartbeat", "status", "heartbeat_at"),
        # The month's cost of a workspace: its experiments' batches finished since a time.
        Index("ix_batch_runs_experiment_finished", "experiment_id", "finished_at"),
        # An experiment's latest runs and their history, without reading all its batches.
        Index("ix_batch_runs_experiment_round", "experiment_id", "round"),
    )

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    round: Mapped[int] = mapped_column(Integer, default=1)
    """Which run of the experiment this batch belongs to (1, 2, ... for a schedule)."""
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[BatchStatus] = mapped_column(
        str_enum(BatchStatus),
        default=BatchStatus.QUEUED,
    )
    iterations_requested: Mapped[int] = mapped_column(Integer)
    """The iterations this batch runs. An adaptive batch plans its maximum and lowers it
    to what it has asked once its precision is reached."""
    temperature: Mapped[float] = mapped_column(Float)
    chunk_size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    """The answers come from the offline demo provider, not a real assistant."""
    stored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Iterations stored so far (a counter the writer moves as rows commit)."""
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    """Stored iterations with a complete answer (``succeeded``) and with no answer
    (``failed``): counters the writer moves as rows commit (and a resume, which deletes
    failed rows); nothing else writes them."""
    truncated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refused: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    empty: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Stored answers that are not samples, by class (counters moved like ``succeeded``):
    ``stored = succeeded + failed + truncated + refused + empty``."""
    precision: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """The experiment's precision when the batch was planned, with its maximum
    (:class:`echo_ai.runs.adaptive.Precision`); None: a fixed count."""
    looks: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """An adaptive batch's tally after each round: chunk number -> ``[numerator,
    denominator]`` of the precision's rate over that chunk's answers."""
    parameters: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """The generation parameters actually sent (what the model's capabilities allowed),
    recorded from the batch's first answer; None until one came back."""
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    metrics_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    """Earlier metrics, kept when the experiment is re-scored (newest last)."""
    brands_revision: Mapped[int] = mapped_column(Integer, default=1)
    cost_usd: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why the batch stopped, in a sentence of ours (:mod:`echo_ai.failures`)."""
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """The code of ``error`` (:class:`echo_ai.failures.FailureCode`)."""
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The process (host:pid:nonce) that holds the batch while it runs; with
    ``heartbeat_at`` it is a lease that a resume must respect."""
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """Last sign of life: when the batch was dispatched, claimed, its lease renewed, or an
    iteration stored; the clock of its lease (:mod:`echo_ai.runs.leases`). An unfinished
    batch silent for long, none of whose chunks waits in the broker, is dispatched again
    (see the scheduler)."""

    experiment: Mapped[Experiment] = relationship(back_populates="batch_runs", lazy="raise")

    @property
    def chunk_count(self) -> int:
        return -(-self.iterations_requested // self.chunk_size)

    def chunk_range(self, chunk: int) -> range:
        start = chunk * self.chunk_size
        return range(start, min(start + self.chunk_size, self.iterations_requested))

    @property
    def not_counted(self) -> int:
        """Stored answers that are not samples (truncated, refused or empty)."""
        return self.truncated + self.refused + self.empty


class ExperimentRound(UUIDPrimaryKey, Timestamps, Base):
    """One run (round) of an experiment: its providers combined, stored when a batch ends.

    Readers never pool iterations themselves: whenever a batch of the round finishes (or
    the experiment is re-scored) the combined metrics of the round's finished batches are
    computed once and kept here, with the providers they include. Real and synthetic
    (demo) providers are combined apart (``combinations``).
    """

    __tablename__ = "experiment_rounds"
    __table_args__ = (UniqueConstraint("experiment_id", "round"),)

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    round: Mapped[int] = mapped_column(Integer)
    combined: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """BatchMetrics of the first combination's finished batches pooled at the iteration
    level (the real providers when any ran, else the demo), None (SQL NULL) until one has
    finished. The same figures as ``combinations[0]["pooled"]``, kept apart so the
    history reads one rate with SQL without loading every combination."""
    visibility: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """``combined``'s visibility (a :class:`~echo_ai.analysis.metrics.Rate`), kept apart
    so that reading many runs' visibility never decompresses their whole ``combined``."""
    combined_providers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """The providers (``vendor:model``) whose batches ``combined`` includes."""
    combinations: Mapped[list[dict[str, Any]] | None] = mapped_column(_NULLABLE_JSON, nullable=True)
    """:class:`echo_ai.analysis.metrics.Combination` of the real providers, then of the
    synthetic ones (each present when such a provider ran); None (SQL NULL) for rounds
    stored before they were split, until the upgrade fills them."""
    complete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Every batch of the round has finished: ``combined`` is final, not partial."""
    failed_providers: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default="[]")
    """The providers (``vendor:model``) whose batch of this round failed."""


class Iteration(UUIDPrimaryKey, Base):
    __tablename__ = "iterations"
    __table_args__ = (
        UniqueConstraint("batch_run_id", "index"),
        Index("ix_iterations_batch_run_success", "batch_run_id", "success"),
    )

    batch_run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batch_runs.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean)
    """The vendor answered (whatever the answer's class); False: the call failed."""
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The raw answer, kept so the experiment can be re-scored without new calls."""
    answer_class: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """An :class:`echo_ai.providers.base.AnswerClass` value; None when the call failed. Only
    ``complete`` answers count in the metrics."""
    stop_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    """The vendor's own reason the answer ended, as sent."""
    reasoning: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Reasoning text sent apart from the answer (a ``<think>`` block...): never scored."""
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    input_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_usd: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    """What the call cost in all (tokens and fees); None when a price is unknown."""
    fee_usd: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    """Of ``cost_usd``, the per-request and per-search fees (None when unknown)."""
    model_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    searched: Mapped[bool] = mapped_column(Boolean, default=False)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    search_queries: Mapped[list[str]] = mapped_column(JSONType, default=list)
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """The raw answer and reasoning were removed by the retention task (the extracted facts,
    citations and metrics stay)."""


class JudgingStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    """Asked to stop, or a budget refused a call: what was judged is kept."""
    FAILED = "failed"


ACTIVE_JUDGING_STATUSES = (JudgingStatus.QUEUED, JudgingStatus.RUNNING)


class SentimentJudging(UUIDPrimaryKey, Base):
    """One judging of a run's answers by a model, done in the background
    (:mod:`echo_ai.experiments.judging`): its status, how far it got (the keyset position of
    the last answer stored) and what it counted and cost so far."""

    __tablename__ = "sentiment_judgings"
    __table_args__ = (
        Index("ix_sentiment_judgings_experiment_created", "experiment_id", "created_at"),
        # One judging queued or running per experiment, also for two asked at once.
        Index(
            "uq_sentiment_judgings_experiment_active",
            "experiment_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(300))
    round: Mapped[int] = mapped_column(Integer)
    """The run judged (its answers only: docs/metrics.md, "model judge")."""
    status: Mapped[JudgingStatus] = mapped_column(
        str_enum(JudgingStatus), default=JudgingStatus.QUEUED
    )
    answers: Mapped[int] = mapped_column(Integer)
    """The run's complete answers when it was asked for (those naming a tracked brand are
    asked about: at most this many calls)."""
    read: Mapped[int] = mapped_column(Integer, default=0)
    """Answers read so far (in keyset order; those naming no tracked brand are skipped)."""
    judged: Mapped[int] = mapped_column(Integer, default=0)
    invalid_output: Mapped[int] = mapped_column(Integer, default=0)
    provider_error: Mapped[int] = mapped_column(Integer, default=0)
    not_sent: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    """What the calls so far cost; None: the model has no price."""
    after_batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    after_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The (batch run, index) of the last answer stored: where a resumed judging goes on."""
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Why it stopped or failed."""
    stop_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When a job last claimed it (compare-and-set); renewed with each chunk stored."""
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the scheduler last dispatched it again (:func:`echo_ai.experiments.judging.stalled`)."""
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
