"""The sample-size planner (issue 14): how many answers a precision or a change needs.

- *Precision*: the answers that make a rate's 95% interval at most ``±half_width``, both
  as a fixed count (planned for the expected rate: one half, the widest, unless told) and
  as adaptive sampling's expected cost at that rate (simulated with its stopping rule).
- *Change*: the answers per period (per run of a recurring experiment) that the change
  test between runs needs to see a change from one rate to another with the given power.

Pure computation (:mod:`echo_ai.analysis.sampling`); the API, the CLI and the experiment
form show the same :class:`Plan`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from echo_ai.analysis import sampling
from echo_ai.errors import AppError

SIMULATED_RUNS = 1_000
"""Simulated runs behind an adaptive estimate (at most about 0.2 s, at ±1 point)."""


class InvalidPlan(AppError):
    status_code = 422
    code = "invalid_plan"


class PrecisionPlan(BaseModel):
    half_width: float = Field(description="The target: ±this fraction (0.05 = ±5 points).")
    expected_rate: float = Field(description="The rate planned for (0.5 is the worst case).")
    confidence: float
    fixed_answers: int = Field(
        description="Answers per provider that reach the target at the expected rate."
    )
    adaptive_answers: float = Field(
        description="Answers per provider adaptive sampling asks on average at the expected "
        "rate (simulated), stopping once the interval is that narrow."
    )
    adaptive_min_answers: int
    adaptive_max_answers: int
    adaptive_reaches_target: float = Field(
        description="Share of simulated runs that reach the target before the maximum: "
        "below 1, the maximum is too low for that precision at that rate."
    )


class ChangePlan(BaseModel):
    before: float
    after: float
    power: float
    significance: float
    answers_per_period: int = Field(
        description="Answers per provider in each of the two periods (runs) compared."
    )


class Plan(BaseModel):
    precision: PrecisionPlan | None = None
    change: ChangePlan | None = None


def plan(
    *,
    half_width: float | None = None,
    expected_rate: float = 0.5,
    confidence: float = 0.95,
    max_answers: int = 1_000,
    min_answers: int = sampling.MIN_ANSWERS,
    change_from: float | None = None,
    change_to: float | None = None,
    power: float = 0.8,
    significance: float = 0.05,
) -> Plan:
    """The plan for a precision, a change, or both. :class:`InvalidPlan` (422) when
    neither is asked, only one end of a change is given, or a figure is out of reach."""
    if half_width is None and change_from is None and change_to is None:
        raise InvalidPlan("ask for a precision (half_width) or a change (change_from, change_to)")
    if (change_from is None) != (change_to is None):
        raise InvalidPlan("a change needs both change_from and change_to")
    if half_width is not None and min_answers > max_answers:
        raise InvalidPlan(
            f"min_answers ({min_answers:,}) must be at most max_answers ({max_answers:,})"
        )
    if half_width is not None and not 0.0 < half_width <= sampling.MAX_HALF_WIDTH:
        raise InvalidPlan(
            f"half_width must lie in (0, {sampling.MAX_HALF_WIDTH}], got {half_width}"
        )
    try:
        precision = (
            None
            if half_width is None
            else _precision(half_width, expected_rate, confidence, min_answers, max_answers)
        )
        change = (
            None
            if change_from is None or change_to is None
            else ChangePlan(
                before=change_from,
                after=change_to,
                power=power,
                significance=significance,
                answers_per_period=sampling.answers_to_detect(
                    change_from, change_to, power=power, significance=significance
                ),
            )
        )
    except ValueError as error:
        raise InvalidPlan(str(error)) from error
    return Plan(precision=precision, change=change)


def _precision(
    half_width: float, expected_rate: float, confidence: float, min_answers: int, max_answers: int
) -> PrecisionPlan:
    fixed = sampling.answers_for_half_width(
        half_width, proportion=expected_rate, confidence=confidence
    )
    rule = sampling.StoppingRule(
        half_width, min_answers=min_answers, max_answers=max_answers, confidence=confidence
    )
    adaptive = sampling.simulate(rule, expected_rate, runs=SIMULATED_RUNS)
    return PrecisionPlan(
        half_width=half_width,
        expected_rate=expected_rate,
        confidence=confidence,
        fixed_answers=fixed,
        adaptive_answers=round(adaptive.mean_answers, 1),
        adaptive_min_answers=rule.min_answers,
        adaptive_max_answers=rule.max_answers,
        adaptive_reaches_target=round(adaptive.reached_target, 3),
    )
