"""Request and response bodies of an experiment's schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from echo_ai.db import utcnow
from echo_ai.runs.models import Experiment
from echo_ai.schedules import cron


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: Annotated[str, Field(min_length=1, max_length=100, examples=["0 9 * * 1"])]
    """Five cron fields (minute hour day-of-month month day-of-week), e.g. ``0 9 * * 1``
    for Mondays at 9:00, or a macro: ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``.
    Runs must be at least 5 minutes apart."""
    timezone: Annotated[str, Field(max_length=64, examples=["Europe/Paris"])] = "UTC"
    """The IANA time zone the cron times are read in."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return cron.valid_cron(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return cron.valid_timezone(value)

    @model_validator(mode="after")
    def _not_too_often(self) -> ScheduleIn:
        cron.check_interval(self.cron, self.timezone, now=utcnow())
        return self


class ScheduleOut(BaseModel):
    cron: str
    timezone: str
    paused: bool
    next_run_at: datetime | None
    """When the next run starts (``null`` while paused)."""
    last_run_at: datetime | None

    @classmethod
    def of(cls, experiment: Experiment) -> ScheduleOut | None:
        if experiment.schedule_cron is None:
            return None
        return cls(
            cron=experiment.schedule_cron,
            timezone=experiment.schedule_timezone,
            paused=experiment.schedule_paused,
            next_run_at=experiment.next_run_at,
            last_run_at=experiment.last_run_at,
        )
