"""The next run times a schedule form previews, and its validation messages."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

from echo_ai.schedules.cron import next_run, next_runs
from echo_ai.schedules.service import preview

NOW = datetime(2026, 3, 26, 12, 0, tzinfo=UTC)  # a Thursday; Paris moves to summer time on the 29th


def test_the_next_runs_follow_one_another_in_the_zone() -> None:
    times = next_runs("30 8 * * 1-5", "Europe/Paris", after=NOW, count=5)
    local = [t.astimezone(ZoneInfo("Europe/Paris")) for t in times]
    assert [t.strftime("%a %H:%M") for t in local] == [
        "Fri 08:30",
        "Mon 08:30",
        "Tue 08:30",
        "Wed 08:30",
        "Thu 08:30",
    ]
    # Across the change to summer time the wall clock stays at 8:30: UTC moves an hour.
    assert [t.hour for t in times] == [7, 6, 6, 6, 6]
    assert times[0] == next_run("30 8 * * 1-5", "Europe/Paris", after=NOW)
    assert all(a < b for a, b in pairwise(times))
    assert next_runs("@daily", "UTC", after=NOW, count=2) == [
        datetime(2026, 3, 27, tzinfo=UTC),
        datetime(2026, 3, 28, tzinfo=UTC),
    ]


def test_preview_gives_the_times_or_the_messages_saving_would_give() -> None:
    shown = preview(" 0  9 * * 1 ", "Asia/Tokyo", now=NOW)
    assert shown.errors == {} and shown.schedule is not None
    assert shown.schedule.cron == "0 9 * * 1"
    assert len(shown.times) == 5
    assert all(t.astimezone(ZoneInfo("Asia/Tokyo")).hour == 9 for t in shown.times)

    assert preview("* * * * *", "UTC", now=NOW).errors == {
        "cron": "runs must be at least 5 minutes apart"
    }
    bad = preview("every monday", "UTC", now=NOW)
    assert bad.schedule is None and bad.times == []
    assert bad.errors["cron"].startswith("cron must have five fields")
    assert "unknown time zone" in preview("@daily", "Mars/Olympus", now=NOW).errors["timezone"]
