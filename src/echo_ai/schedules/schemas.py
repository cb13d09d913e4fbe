"""Request and response bodies of an experiment's schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from echo_ai.db import utcnow
from echo_ai.runs.models import Experiment
from echo_ai.schedules import cron
from echo_ai.text import SingleLine

MAX_CRON_LENGTH = 100
MAX_TIME_ZONE_LENGTH = 64

TimeZoneName = Annotated[
    str, SingleLine(max_length=MAX_TIME_ZONE_LENGTH), AfterValidator(cron.valid_timezone)
]
"""An IANA time zone name (``Europe/Paris``) the server knows; the longest is 32
characters."""


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: Annotated[
        str, SingleLine(min_length=1, max_length=MAX_CRON_LENGTH), Field(examples=["0 9 * * 1"])
    ]
    """Five cron fields (minute hour day-of-month month day-of-week), e.g. ``0 9 * * 1``
    for Mondays at 9:00, or a macro: ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``.
    Runs must be at least 5 minutes apart."""
    timezone: Annotated[TimeZoneName, Field(examples=["Europe/Paris"])] = "UTC"
    """The IANA time zone the cron times are read in."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return cron.valid_cron(value)

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
