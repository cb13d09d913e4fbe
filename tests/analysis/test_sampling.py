"""The sample-size planner and adaptive sampling's stopping rule, checked by their defining
properties and by simulation (coverage of the final interval, answers saved)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from echo_ai.analysis.sampling import (
    MIN_ANSWERS,
    ROUND,
    StoppingRule,
    answers_for_half_width,
    answers_to_detect,
    simulate,
)
from echo_ai.analysis.statistics import (
    change_p_value,
    wilson_half_width,
    wilson_half_widths,
    wilson_interval,
)
from tests.kit import untraced

RATES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9)
"""The range of true rates the issue asks about (0.02 to 0.9)."""


@pytest.mark.parametrize(
    ("half_width", "proportion", "confidence"),
    [(0.05, 0.5, 0.95), (0.02, 0.5, 0.95), (0.1, 0.5, 0.95), (0.05, 0.1, 0.95), (0.03, 0.5, 0.9)],
)
def test_the_planned_count_is_the_fewest_that_is_narrow_enough(
    half_width: float, proportion: float, confidence: float
) -> None:
    n = answers_for_half_width(half_width, proportion=proportion, confidence=confidence)
    assert wilson_half_width(n, proportion=proportion, confidence=confidence) <= half_width
    assert wilson_half_width(n - 1, proportion=proportion, confidence=confidence) > half_width


def test_five_points_at_one_half_needs_about_four_hundred_answers() -> None:
    assert answers_for_half_width(0.05) == 381  # the textbook 1.96^2/4/0.05^2 = 385, Wilson's


def test_the_planned_change_count_has_the_power_it_promises() -> None:
    """Simulated pairs of periods of ``n`` answers each, 0.5 then 0.6: the change test
    (the one the product runs between runs) finds the change in about 80% of them."""
    n = answers_to_detect(0.5, 0.6)
    assert n == 388  # "about 390" (issue 14)
    rng = np.random.default_rng(7)
    pairs = 3_000
    before = rng.binomial(n, 0.5, size=pairs)
    after = rng.binomial(n, 0.6, size=pairs)
    found = sum(
        change_p_value(int(a), n, int(b), n) < 0.05 for a, b in zip(before, after, strict=True)
    )
    assert 0.77 <= found / pairs <= 0.83
    smaller = answers_to_detect(0.5, 0.6, power=0.5)
    assert smaller < n and answers_to_detect(0.5, 0.7) < n  # a bigger change needs fewer


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: answers_for_half_width(0.0), "half_width"),
        (lambda: answers_for_half_width(0.05, proportion=1.5), "proportion"),
        (lambda: answers_for_half_width(0.05, confidence=1.0), "confidence"),
        (lambda: answers_for_half_width(1e-5), "more than"),
        (lambda: answers_to_detect(0.5, 0.5), "differ"),
        (lambda: answers_to_detect(0.5, 0.6, power=1.0), "power"),
        (lambda: answers_to_detect(0.5, 0.5001), "more than"),
        (lambda: StoppingRule(0.05, min_answers=5), "min_answers"),
        (lambda: StoppingRule(0.05, min_answers=100, max_answers=50), "max_answers"),
    ],
)
def test_out_of_range_inputs_are_refused_with_a_reason(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_rounds_are_of_one_size_and_never_go_past_the_maximum() -> None:
    rule = StoppingRule(0.05, min_answers=40, max_answers=95)
    assert rule.next_round(0) == ROUND
    assert rule.next_round(40) == ROUND
    assert rule.next_round(90) == 5 and rule.next_round(95) == 0
    loose = StoppingRule(0.2, min_answers=40, max_answers=95)
    assert not loose.reached(0, 30) and loose.reached(0, 40)  # narrow at 30, but short


def test_the_rule_stops_once_narrow_enough_and_at_the_maximum() -> None:
    rule = StoppingRule(0.05, max_answers=500)
    assert not rule.reached(0, MIN_ANSWERS - 1)  # never before the minimum
    assert not rule.reached(15, 30)  # ±18 points at 15 of 30
    assert rule.reached(0, 100)  # 0 of 100: [0, 3.7%]
    assert rule.reached(200, 400)  # ±4.9 points
    assert rule.reached(250, 500)  # the maximum, narrow enough or not


@untraced
def test_the_simulation_agrees_with_asking_one_answer_at_a_time() -> None:
    """:func:`simulate` (vectorised, the rule tabulated) against a plain loop that asks the
    rule after each round of answers drawn one by one: same cost and coverage within
    sampling error."""
    rule = StoppingRule(0.08, max_answers=400)
    rate, runs = 0.3, 1_500
    draw = random.Random(11)
    answers, covered = [], 0
    for _ in range(runs):
        n = successes = 0
        while True:
            for _ in range(rule.next_round(n)):
                successes += draw.random() < rate
                n += 1
            if rule.reached(successes, n):
                break
        low, high = wilson_interval(successes, n)
        covered += low <= rate <= high
        answers.append(n)
    looped = np.array(answers)
    simulated = simulate(rule, rate, runs=runs, seed=5)
    standard_error = looped.std() / np.sqrt(runs) * np.sqrt(2)
    assert abs(simulated.mean_answers - looped.mean()) < 4 * standard_error
    assert abs(simulated.coverage - covered / runs) < 0.03


def test_coverage_stays_at_the_nominal_level_over_the_range_of_rates() -> None:
    """At nominal 95%, stopping on the data leaves the final interval's coverage at or
    above 94% for true rates from 0.02 to 0.9 (20,000 simulated runs each: the lowest,
    near 0.1, is about 94.4%, and a run-to-run spread of 0.16 points)."""
    rule = StoppingRule(0.05, max_answers=1_000)
    for rate in RATES:
        result = simulate(rule, rate, runs=20_000, seed=3)
        assert result.coverage >= 0.94, result
        assert result.mean_half_width <= 0.05


def test_adaptive_sampling_asks_at_least_thirty_percent_fewer_answers_than_a_fixed_count() -> None:
    """A fixed count must plan for the widest case (a rate of one half) to promise ±5
    points at any rate; adaptive sampling reaches the same promise with fewer answers on
    average over the range of rates, and never with many more at one half."""
    rule = StoppingRule(0.05, max_answers=1_000)
    fixed = answers_for_half_width(0.05)
    costs = {rate: simulate(rule, rate, runs=4_000, seed=1).mean_answers for rate in RATES}
    assert 1 - sum(costs.values()) / len(costs) / fixed >= 0.30
    assert costs[0.5] <= fixed * 1.05  # rounds overshoot by less than one round
    assert costs[0.02] < fixed / 4


def test_the_many_counts_half_width_is_the_one_count_half_width() -> None:
    counts = np.arange(0, 201)
    widths = wilson_half_widths(counts, 200, confidence=0.9)
    for successes, width in zip(counts.tolist(), widths.tolist(), strict=True):
        expected = wilson_half_width(200, proportion=successes / 200, confidence=0.9)
        assert width == pytest.approx(expected, rel=1e-12)
