"""How many answers to ask for: the sample-size planner and adaptive sampling's stopping rule.

Planning (before any answer is seen):

- :func:`answers_for_half_width`: the answers that make a rate's 95% Wilson interval at
  most ``±half_width`` wide, at the rate expected (0.5, the widest, when nothing is known).
- :func:`answers_to_detect`: the answers per period that the change test between two
  runs (:func:`echo_ai.analysis.statistics.change_p_value`, a two-proportion test) needs to
  see a change from one rate to another with the given power (80% by default).

Adaptive sampling (issue 14): instead of a fixed count, an experiment can ask for a
precision. Answers are asked in rounds of :data:`ROUND` (the runner's chunks of an
adaptive batch, run one after the other); after each round the rule
(:class:`StoppingRule`) looks at the Wilson interval of the rate so far and stops once its
half-width is at most the target (never before ``min_answers``, always at
``max_answers``). The interval reported at the end is the ordinary Wilson interval at the
nominal level. Stopping on the data could make it cover less than nominal; a simulation
(``tests/analysis/test_sampling.py``) of exactly these looks shows that with rounds of
:data:`ROUND` answers and a minimum of :data:`MIN_ANSWERS` its coverage stays at or above
94% at nominal 95% for true rates from 0.02 to 0.9 (rounds of 20 fell to 93.9% near 0.12),
while a rate far from one half needs far fewer answers than the worst case a fixed count
must plan for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from echo_ai.analysis.statistics import wilson_half_width, wilson_half_widths, wilson_interval

ROUND = 10
"""Answers asked between two looks at the interval (the chunk size of adaptive batches):
the coverage shown by simulation holds for these looks, and closer ones are not made."""
MIN_ANSWERS = 30
"""The fewest answers adaptive sampling stops at (the interval of a handful of answers
is too unsteady to stop on)."""
MIN_HALF_WIDTH = 0.001
"""The narrowest precision an experiment may ask for (±0.1 points)."""
MAX_HALF_WIDTH = 0.25
"""The widest precision planned or asked for (±25 points: wider says little)."""
MAX_PLANNED = 1_000_000
"""The largest count the planner gives (beyond, the target is out of reach)."""


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def answers_for_half_width(
    half_width: float, *, proportion: float = 0.5, confidence: float = 0.95
) -> int:
    """The fewest answers whose Wilson interval at ``proportion`` is at most
    ``±half_width`` (a fraction: 0.05 for ±5 points)."""
    _z(confidence)
    _check_rate("proportion", proportion)
    if not 0.0 < half_width < 0.5:
        raise ValueError(f"half_width must lie in (0, 0.5), got {half_width}")

    def narrow_enough(n: int) -> bool:
        return wilson_half_width(n, proportion=proportion, confidence=confidence) <= half_width

    if not narrow_enough(MAX_PLANNED):
        raise ValueError(f"±{half_width:g} needs more than {MAX_PLANNED:,} answers")
    low, high = 1, MAX_PLANNED  # the half-width falls with n: bisect for the first n
    while low < high:
        middle = (low + high) // 2
        if narrow_enough(middle):
            high = middle
        else:
            low = middle + 1
    return low


def answers_to_detect(
    before: float, after: float, *, power: float = 0.8, significance: float = 0.05
) -> int:
    """Answers per period for the two-sided two-proportion test at ``significance`` to
    tell ``before`` from ``after`` with probability ``power`` (the classic normal
    approximation: from 0.5 to 0.6 needs 388 per period)."""
    _check_rate("before", before)
    _check_rate("after", after)
    if before == after:
        raise ValueError("before and after must differ: no count detects no change")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    z_alpha = _z(1.0 - significance)
    z_beta = NormalDist().inv_cdf(power)
    pooled = (before + after) / 2.0
    spread = z_alpha * math.sqrt(2.0 * pooled * (1.0 - pooled)) + z_beta * math.sqrt(
        before * (1.0 - before) + after * (1.0 - after)
    )
    needed = math.ceil((spread / (after - before)) ** 2)
    if needed > MAX_PLANNED:
        raise ValueError(f"a change that small needs more than {MAX_PLANNED:,} answers a period")
    return needed


def detectable_change(
    answers: int, *, before: float = 0.5, power: float = 0.8, significance: float = 0.05
) -> float | None:
    """The smallest rise from ``before`` that :func:`answers_to_detect` says ``answers``
    per period detect with ``power`` (a fraction: 0.1 for 10 points), to a hundredth of a
    point; None when not even a rise to 1 is detected. At one half the fall of the same
    size needs the same count."""
    if answers < 1:
        raise ValueError(f"answers must be at least 1, got {answers}")

    def detected(rise: float) -> bool:
        try:
            needed = answers_to_detect(
                before, before + rise, power=power, significance=significance
            )
        except ValueError:  # a rise that small needs more than any count planned
            return False
        return needed <= answers

    largest = 1.0 - before
    if largest <= 0 or not detected(largest):
        return None
    low, high = 0.0, largest  # detection gets easier as the rise grows: bisect
    while high - low > 1e-4:
        middle = (low + high) / 2
        if detected(middle):
            high = middle
        else:
            low = middle
    return high


@dataclass(frozen=True)
class StoppingRule:
    """When adaptive sampling of one provider stops: at ``max_answers``, or from
    ``min_answers`` on once the rate's Wilson interval is at most ``±half_width``."""

    half_width: float
    min_answers: int = MIN_ANSWERS
    max_answers: int = 1_000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _z(self.confidence)
        if not 0.0 < self.half_width < 0.5:
            raise ValueError(f"half_width must lie in (0, 0.5), got {self.half_width}")
        if self.min_answers < MIN_ANSWERS:
            raise ValueError(f"min_answers must be at least {MIN_ANSWERS}")
        if self.max_answers < self.min_answers:
            raise ValueError("max_answers must be at least min_answers")

    def stops(self, successes: NDArray[np.int64], answers: int) -> NDArray[np.bool_]:
        """For each count of ``successes`` out of ``answers``, whether sampling stops."""
        counts = np.asarray(successes)
        if answers >= self.max_answers:
            return np.ones(counts.shape, dtype=bool)
        if answers < self.min_answers:
            return np.zeros(counts.shape, dtype=bool)
        widths = wilson_half_widths(counts, answers, confidence=self.confidence)
        return widths <= self.half_width

    def reached(self, successes: int, answers: int) -> bool:
        """Whether sampling stops after ``successes`` of ``answers``."""
        return bool(self.stops(np.array([successes]), answers)[0])

    def next_round(self, answers: int) -> int:
        """How many answers to ask next, after ``answers``: a round of :data:`ROUND`,
        never past the maximum (0 once there)."""
        return max(0, min(ROUND, self.max_answers - answers))


@dataclass(frozen=True)
class Simulated:
    """Adaptive sampling of one provider simulated ``runs`` times at a true ``rate``."""

    rate: float
    runs: int
    mean_answers: float
    """Answers asked per run, on average: what the precision cost."""
    coverage: float
    """Share of runs whose final Wilson interval holds the true rate."""
    mean_half_width: float
    """The final intervals' half-width, on average (at most the target, unless the
    maximum was reached first)."""
    reached_target: float
    """Share of runs that stopped with the target half-width reached (the others ran
    to the maximum short of it)."""


def simulate(rule: StoppingRule, rate: float, *, runs: int = 4_000, seed: int = 0) -> Simulated:
    """Run ``rule`` ``runs`` times on answers that name the brand with probability ``rate``,
    in the rounds it asks for; the runs go round by round together (numpy), so thousands
    take milliseconds."""
    _check_rate("rate", rate)
    rng = np.random.default_rng(seed)
    successes = np.zeros(runs, dtype=np.int64)
    final_successes = np.zeros(runs, dtype=np.int64)
    final_answers = np.zeros(runs, dtype=np.int64)
    running = np.arange(runs)
    answers = 0
    while running.size:
        step = rule.next_round(answers)
        successes[running] += rng.binomial(step, rate, size=running.size)
        answers += step
        stopped = running[rule.stops(successes[running], answers)]
        final_successes[stopped] = successes[stopped]
        final_answers[stopped] = answers
        running = np.setdiff1d(running, stopped, assume_unique=True)
    covered = 0
    widths = 0.0
    reached = 0
    pairs, how_many = np.unique(
        np.stack([final_successes, final_answers], axis=1), axis=0, return_counts=True
    )
    for (x, n), times in zip(pairs.tolist(), how_many.tolist(), strict=True):
        low, high = wilson_interval(x, n, confidence=rule.confidence)
        covered += times if low <= rate <= high else 0
        widths += times * (high - low) / 2.0
        width = wilson_half_width(n, proportion=x / n, confidence=rule.confidence)
        reached += times if width <= rule.half_width else 0
    return Simulated(
        rate=rate,
        runs=runs,
        mean_answers=float(final_answers.mean()),
        coverage=covered / runs,
        mean_half_width=widths / runs,
        reached_target=reached / runs,
    )
