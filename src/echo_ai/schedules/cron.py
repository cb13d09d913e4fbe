"""Cron expressions of recurring experiments: validation and the next run time.

A schedule is a five-field cron expression (``0 9 * * 1``: Mondays at 9:00) or a macro
(``@hourly``, ``@daily``, ``@weekly``, ``@monthly``), read in an IANA time zone. The
scheduler (:mod:`echo_ai.schedules.scheduler`) starts a run when ``next_run_at`` has passed
and moves ``next_run_at`` to the first cron time after *now*: runs missed while the
service was down (or the schedule paused) are not made up one by one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MACROS = frozenset({"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually"})
MIN_INTERVAL = timedelta(minutes=5)
"""Runs closer together than this are refused: each run is N paid calls per provider."""


_RANDOM_FIELD = re.compile(r"\b[RH]\b", re.IGNORECASE)
"""croniter's random (``R``) and hashed (``H``) fields: their times change from one
reading to the next, so no interval could be checked."""


def valid_cron(value: str) -> str:
    """The expression normalised; ValueError with a readable message if it is not one."""
    value = " ".join(value.split())
    if value.lower() in MACROS:
        return value.lower()
    fields = value.split(" ")
    if (
        len(fields) != 5
        or any(_RANDOM_FIELD.search(field) for field in fields)
        or not croniter.is_valid(value)
    ):
        raise ValueError(
            "cron must have five fields (minute hour day month weekday), e.g. "
            "'0 9 * * 1', or be one of " + ", ".join(sorted(MACROS))
        )
    return value


def valid_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name like Europe/Paris"
        ) from None
    return value


INTERVALS_CHECKED = 48


def check_interval(cron: str, timezone: str, *, now: datetime) -> None:
    """Refuse schedules whose runs come closer than :data:`MIN_INTERVAL` (over the next
    :data:`INTERVALS_CHECKED` runs, which covers any pattern within a day or two)."""
    previous = next_run(cron, timezone, after=now)
    for _ in range(INTERVALS_CHECKED):
        following = next_run(cron, timezone, after=previous)
        if following - previous < MIN_INTERVAL:
            minutes = int(MIN_INTERVAL.total_seconds() // 60)
            raise ValueError(f"runs must be at least {minutes} minutes apart")
        previous = following


def next_run(cron: str, timezone: str, *, after: datetime) -> datetime:
    """The first time strictly after ``after`` that the schedule names (in UTC).

    Cron times are wall-clock times of the zone, stepped on the wall clock: when clocks go
    back, a time in the repeated hour runs once (its first occurrence), not twice; when
    they go forward, a time that does not exist runs at the same offset past the change
    (02:30 becomes 03:30).
    """
    try:
        zone = ZoneInfo(timezone)
    except ZoneInfoNotFoundError:  # validated on input; a zone removed since falls back
        zone = ZoneInfo("UTC")
    wall = after.astimezone(zone).replace(tzinfo=None)
    times = croniter(cron, wall)
    while True:
        candidate: datetime = times.get_next(datetime)
        moment = candidate.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if moment > after:
            return moment


def next_runs(cron: str, timezone: str, *, after: datetime, count: int = 5) -> list[datetime]:
    """The first ``count`` times after ``after`` that the schedule names (in UTC), as
    :func:`next_run` finds them one after the other: what a form previews before the
    schedule is saved."""
    times: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = next_run(cron, timezone, after=moment)
        times.append(moment)
    return times
