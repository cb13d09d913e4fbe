"""Numbers and times as readers expect them (issue 10: ``60.5%``, ``±6.9 pts``, ``$1.24``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from echo_ai.auth.schemas import Registration
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.security.rate_limit import RateLimited
from echo_ai.web import format as fmt
from echo_ai.web.forms import local_path, retry_message, validate


def test_rates_intervals_and_changes() -> None:
    assert fmt.percent(0.605) == "60.5%"
    assert fmt.percent(1.0) == "100.0%"
    assert fmt.percent(None) == fmt.DASH
    assert fmt.points(0.069) == "±6.9 pts"
    assert fmt.signed_points(0.042) == "+4.2 pts"
    assert fmt.signed_points(-0.042) == "−4.2 pts"
    assert fmt.signed_points(0.0) == "±0.0 pts"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1.2449"), "$1.24"),
        (1234.5, "$1,234.50"),
        (0.25, "$0.25"),
        (0.0042, "$0.0042"),
        (0.0001, "$0.0001"),
        (0.00001, "<$0.0001"),
        (Decimal("0.00004999"), "<$0.0001"),
        (-0.00001, ">−$0.0001"),
        (-2, "−$2.00"),
        (Decimal("-1234.5"), "−$1,234.50"),
        (-0.25, "−$0.25"),
        (-0.0042, "−$0.0042"),
        (0, "$0.00"),
        (-0.0, "$0.00"),
        (None, fmt.DASH),
    ],
)
def test_dollars(amount: float | Decimal | None, shown: str) -> None:
    assert fmt.usd(amount) == shown


def test_counts_and_times_in_the_viewers_zone() -> None:
    assert fmt.number(100_000) == "100,000"
    moment = datetime(2026, 11, 26, 18, 5, tzinfo=UTC)
    assert fmt.local_time(moment, fmt.zone("Europe/Berlin")) == "2026-11-26 19:05 CET"
    assert fmt.local_time(moment.replace(tzinfo=None), fmt.zone(None)) == "2026-11-26 18:05 UTC"
    assert fmt.zone("Not/AZone").key == "UTC"
    assert fmt.zone("../../etc/passwd").key == "UTC"
    assert fmt.iso(moment) == "2026-11-26T18:05:00+00:00"


def test_retry_messages_say_when() -> None:
    assert retry_message(RateLimited(headers={"Retry-After": "1"})).endswith("in 1 second.")
    assert retry_message(RateLimited(headers={"Retry-After": "45"})).endswith("in 45 seconds.")
    assert retry_message(RateLimited(headers={"Retry-After": "301"})).endswith("in 6 minutes.")
    assert retry_message(RateLimited()) == "Too many attempts. Try again in a moment."


def test_redirect_targets_stay_on_the_site() -> None:
    assert local_path("/experiments/1?x=2") == "/experiments/1?x=2"
    for bad in (None, "", "//evil.example", "/\\evil.example", "https://evil.example", "/\n/x"):
        assert local_path(bad) == "/", bad


def test_intervals_are_a_half_width_when_symmetric_and_a_range_when_lopsided() -> None:
    assert fmt.interval(0.5, 0.431, 0.569) == "±6.9 pts"
    # 0 of 300: Wilson 0.0–1.3%; "±0.6 pts" would put the upper bound at 0.6%.
    assert fmt.interval(0.0, 0.0, 0.0126) == "0.0%–1.3%"
    assert fmt.interval(0.98, 0.955, 0.991) == "95.5%–99.1%"


def test_form_errors_are_said_in_words_and_our_own_messages_are_kept() -> None:
    errors = validate(
        ExperimentCreate,
        {"prompt": "x" * 5000, "iterations": -5, "temperature": "nan", "providers": []},
    )
    assert errors == {
        "prompt": "At most 4000 characters.",
        "providers": "At least 1 entry.",
        "iterations": "At least 1.",
        "temperature": "Enter a number.",
    }
    assert validate(ExperimentCreate, {"prompt": "", "iterations": "1.5", "grounding": "x"}) == {
        "prompt": "Required.",
        "iterations": "Enter a whole number.",
        "grounding": "Choose yes or no.",
    }
    # A message of our own validators is already written for people.
    assert validate(Registration, {"email": "nope", "password": "x", "accept_terms": True}) == {
        "email": "not a valid email address"
    }
