"""Whether a run's figures changed: every rate of a run tested against an earlier one, with
the false discovery rate of the whole set of tests controlled (Benjamini–Hochberg).

A run is tested on many figures at once (visibility, every brand's mention rate, top-1,
top-3 and citation rate, per provider and all providers pooled): at the 5% level each,
a run with nothing changed would still show a "significant" change in most comparisons
of forty figures. Benjamini–Hochberg adjusts each p-value into a q-value so that, among
the changes called significant, the expected share of false ones is at most the level
(:data:`FDR_LEVEL`); when nothing changed at all, the chance of calling anything
significant is at most the level too.

Only counts are read (each rate's numerator and denominator, as the stored metrics keep
them): the tests never need the answers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from echo_ai.analysis.metrics import BatchMetrics, Rate
from echo_ai.analysis.statistics import change_p_value

FDR_LEVEL = 0.05
"""The false discovery rate the tests of one comparison are controlled at."""

BASELINE_RUNS = 4
"""Runs pooled as the baseline a run is compared with (the complete ones among the
previous four)."""

METHOD = "Benjamini–Hochberg"


def q_text(q: float, name: str = "q") -> str:
    """A q-value (or p-value, ``name="p"``) as shown: ``q = 0.012``, ``q < 0.001``."""
    return f"{name} < 0.001" if q < 0.001 else f"{name} = {q:.3f}"


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """The Benjamini–Hochberg adjusted p-values (q-values), in the order given.

    With the p-values sorted, p₍ᵢ₎ becomes min over j ≥ i of m·p₍ⱼ₎/j (capped at 1):
    rejecting every hypothesis with q ≤ α is the step-up procedure at level α, which
    keeps the false discovery rate at most α for independent (or positively dependent)
    tests. The same values as R's ``p.adjust(method = "BH")``.
    """
    m = len(p_values)
    for p in p_values:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], got {p}")
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        index = order[rank - 1]
        running = min(running, p_values[index] * m / rank)
        adjusted[index] = running
    return adjusted


class Metric(enum.StrEnum):
    """The rates a run is tested on."""

    VISIBILITY = "visibility"
    MENTION_RATE = "mention_rate"
    """A brand other than the target (the target's mention rate is its visibility)."""
    TOP1 = "top1"
    TOP3 = "top3"
    CITATION_RATE = "citation_rate"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Metric.VISIBILITY: "visibility",
    Metric.MENTION_RATE: "mention rate",
    Metric.TOP1: "top-1 rate",
    Metric.TOP3: "top-3 rate",
    Metric.CITATION_RATE: "citation rate",
}


@dataclass(frozen=True)
class Figure:
    """One tested figure: a metric of one provider (None: all providers pooled), of one
    brand for mention rates."""

    provider: str | None
    metric: Metric
    brand: str | None = None

    @property
    def order(self) -> tuple[bool, str, int, str]:
        """All providers first, then each provider; metrics in :class:`Metric` order."""
        return (
            self.provider is not None,
            self.provider or "",
            list(Metric).index(self.metric),
            self.brand or "",
        )

    @property
    def label(self) -> str:
        what = f"{self.brand} {self.metric.label}" if self.brand else self.metric.label
        return f"{what}, {self.provider or 'all providers'}"


def figures_of(metrics: BatchMetrics, *, provider: str | None, target: str) -> dict[Figure, Rate]:
    """The tested rates of one batch (or of a run's providers pooled)."""
    found = {
        Figure(provider, Metric.VISIBILITY): metrics.visibility,
        Figure(provider, Metric.TOP1): metrics.top1,
        Figure(provider, Metric.TOP3): metrics.top3,
        Figure(provider, Metric.CITATION_RATE): metrics.citation_rate,
    }
    for brand, rate in metrics.mention_rates.items():
        if brand != target:
            found[Figure(provider, Metric.MENTION_RATE, brand)] = rate
    return found


def pool_figures(runs: Iterable[Mapping[Figure, Rate]]) -> dict[Figure, Rate]:
    """Several runs' figures pooled by summing counts (a figure present in only some of
    the runs pools those)."""
    pooled: dict[Figure, list[Rate]] = {}
    for figures in runs:
        for figure, rate in figures.items():
            pooled.setdefault(figure, []).append(rate)
    return {figure: Rate.pool(rates) for figure, rates in pooled.items()}


@dataclass(frozen=True)
class ChangeTest:
    """One figure before and after, with its test (p and q None: not tested, ``reason``
    says why)."""

    figure: Figure
    before: Rate | None
    after: Rate | None
    p_value: float | None
    q_value: float | None
    significant: bool
    """q ≤ the level: a change at the controlled false discovery rate."""
    reason: str | None = None

    @property
    def tested(self) -> bool:
        return self.p_value is not None

    @property
    def q_text(self) -> str:
        return "not tested" if self.q_value is None else q_text(self.q_value)

    @property
    def p_text(self) -> str:
        return "not tested" if self.p_value is None else q_text(self.p_value, "p")

    @property
    def points(self) -> float | None:
        """after − before as a fraction (0.05 is 5 points); None when not tested."""
        if not self.tested or self.before is None or self.after is None:
            return None
        assert self.before.value is not None and self.after.value is not None
        return self.after.value - self.before.value


def _untestable(before: Rate | None, after: Rate | None) -> str | None:
    if before is None or after is None:
        return "no figure in one of the runs"
    if before.denominator == 0 or after.denominator == 0:
        return "no complete answer in one of the runs"
    return None


@dataclass(frozen=True)
class ChangeTests:
    """Every figure of one comparison, tested together."""

    tests: list[ChangeTest]
    level: float = FDR_LEVEL

    @property
    def tested(self) -> int:
        return sum(test.tested for test in self.tests)

    @property
    def significant(self) -> list[ChangeTest]:
        """The significant changes, smallest q first."""
        return sorted(
            (t for t in self.tests if t.significant), key=lambda t: (t.q_value, t.figure.order)
        )

    @property
    def statement(self) -> str:
        """What was controlled, in a sentence."""
        tests = f"{self.tested} test{'' if self.tested == 1 else 's'}"
        return f"{tests}, false discovery rate controlled at {self.level * 100:g}% ({METHOD})"

    def get(self, figure: Figure) -> ChangeTest | None:
        return next((t for t in self.tests if t.figure == figure), None)


def compare_figures(
    before: Mapping[Figure, Rate], after: Mapping[Figure, Rate], *, level: float = FDR_LEVEL
) -> ChangeTests:
    """Test every figure of either side (a two-proportion test, Fisher's exact test for
    small counts: :func:`~echo_ai.analysis.statistics.change_p_value`) and adjust the
    p-values of those tested together (:func:`benjamini_hochberg`). A figure missing on
    one side or without answers is listed, not tested."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    figures = sorted(set(before) | set(after), key=lambda figure: figure.order)
    p_values: dict[Figure, float] = {}
    for figure in figures:
        a, b = before.get(figure), after.get(figure)
        if a is not None and b is not None and _untestable(a, b) is None:
            p_values[figure] = change_p_value(
                a.numerator, a.denominator, b.numerator, b.denominator
            )
    q_values = dict(zip(p_values, benjamini_hochberg(list(p_values.values())), strict=True))
    tests = []
    for figure in figures:
        a, b = before.get(figure), after.get(figure)
        q = q_values.get(figure)
        tests.append(
            ChangeTest(
                figure,
                a,
                b,
                p_values.get(figure),
                q,
                significant=q is not None and q <= level,
                reason=_untestable(a, b),
            )
        )
    return ChangeTests(tests, level)


@dataclass(frozen=True)
class RunSignificance:
    """A run's figures tested against the previous complete run and against a baseline:
    the complete runs among the previous ``baseline_runs``, their counts pooled. Each
    comparison is a family of its own, its false discovery rate controlled."""

    round: int
    complete: bool
    synthetic: bool
    baseline_runs: int
    previous: int | None
    """The run compared with (None: no complete run among the previous ones)."""
    vs_previous: ChangeTests | None
    baseline: list[int]
    """The runs pooled as the baseline, newest first (empty: none)."""
    vs_baseline: ChangeTests | None

    @property
    def note(self) -> str | None:
        """Why the run is not (wholly) tested, in a sentence."""
        if self.previous is None:
            return f"not tested: no complete run among the previous {self.baseline_runs}"
        if not self.complete:
            return "run in progress: only its finished providers are tested"
        return None
