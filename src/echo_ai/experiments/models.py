"""An experiment: one prompt, the brands to track, and the providers to ask N times."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Float, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from echo_ai.db import Base, JSONType, Timestamps, UTCDateTime, UUIDPrimaryKey, str_enum

if TYPE_CHECKING:
    from echo_ai.runs.models import BatchRun


class ExperimentStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Experiment(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "experiments"
    __table_args__ = (
        Index("ix_experiments_workspace_status_created", "workspace_id", "status", "created_at"),
        Index("ix_experiments_created_at", "created_at"),
        Index("ix_experiments_next_run_at", "next_run_at"),
    )

    workspace_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    """Owning workspace; NULL for experiments run locally from the command line."""
    name: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    brands: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """A :class:`echo_ai.brands.schemas.BrandSet` as JSON."""
    brands_revision: Mapped[int] = mapped_column(Integer, default=1)
    """Bumped whenever the brand definitions change and answers are re-scored."""
    providers: Mapped[list[str]] = mapped_column(JSONType)
    iterations: Mapped[int] = mapped_column(Integer)
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

    batch_runs: Mapped[list[BatchRun]] = relationship(
        back_populates="experiment",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="BatchRun.created_at",
    )
