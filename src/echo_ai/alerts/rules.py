"""Whether a rule fires on a run: the figures it watches, tested against the previous run or
a baseline with the false discovery rate controlled across all of them, then the minimum
effect.

The tests are :mod:`echo_ai.analysis.significance`'s, run on the rule's figures only: a
rule watching visibility on two providers tests those figures as one family (and the
synthetic figures of the demo provider as a family of their own), so the rule's level is
the false discovery rate of what it watches, and, when nothing changed at all, the chance
that it fires at most that level (for each family): the A/A simulation of
``tests/alerts/test_aa_simulation.py`` measures it. The minimum effect is applied after the
adjustment, so it only ever removes alerts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from echo_ai.analysis.significance import (
    ChangeTest,
    ComparisonTests,
    Figure,
    Metric,
    RunFigures,
    compare_run_figures,
)

ALL_PROVIDERS = "all"
"""In a rule's providers: the figure of every provider pooled."""


@dataclass(frozen=True)
class RuleSpec:
    """What a rule watches."""

    metrics: frozenset[Metric]
    brands: frozenset[str] = frozenset()
    """Brands whose mention rates are watched (empty: every brand)."""
    providers: frozenset[str] = frozenset()
    """``vendor:model`` labels or :data:`ALL_PROVIDERS` (empty: every one and the pool)."""
    min_effect: float = 0.0
    """The smallest change that alerts, as a fraction (0.05: 5 points)."""
    level: float = 0.05

    def watches(self, figure: Figure) -> bool:
        if figure.metric not in self.metrics:
            return False
        if figure.metric is Metric.MENTION_RATE and self.brands and figure.brand not in self.brands:
            return False
        if not self.providers:
            return True
        return (figure.provider or ALL_PROVIDERS) in self.providers


def watched(figures: RunFigures, spec: RuleSpec) -> RunFigures:
    """The rule's figures of a run (or of a baseline)."""
    return RunFigures(
        {figure: rate for figure, rate in figures.rates.items() if spec.watches(figure)},
        figures.synthetic_providers,
        figures.pools,
    )


@dataclass(frozen=True)
class Verdict:
    tests: ComparisonTests
    """Every figure the rule tested, adjusted together."""
    fired: list[ChangeTest]
    """The significant changes at least the minimum effect: the rule fires when any."""

    @property
    def fires(self) -> bool:
        return bool(self.fired)


def judge(before: RunFigures, after: RunFigures, spec: RuleSpec) -> Verdict:
    """Test the rule's figures of ``after`` against ``before`` (see the module)."""
    tests = compare_run_figures(watched(before, spec), watched(after, spec), level=spec.level)
    fired = [
        test
        for test in tests.significant
        if test.points is not None and abs(test.points) >= spec.min_effect - 1e-12
    ]
    return Verdict(tests, fired)


def metrics_of(names: Collection[str]) -> frozenset[Metric]:
    return frozenset(Metric(name) for name in names)
