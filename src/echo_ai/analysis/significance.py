"""Whether a run's figures changed: every rate of a run tested against an earlier one, with
the false discovery rate of the whole set of tests controlled (Benjamini–Hochberg).

A run is tested on many figures at once (visibility, every brand's mention rate, top-1,
top-3 and citation rate, per provider and all providers pooled): at the 5% level each,
a run with nothing changed would still show a "significant" change in most comparisons
of forty figures. Benjamini–Hochberg adjusts each p-value into a q-value so that, among
the changes called significant, the expected share of false ones is at most the level
(:data:`FDR_LEVEL`); when nothing changed at all, the chance of calling anything
significant is at most the level too.

Synthetic figures (the offline demo provider's) are tested in a family of their own,
apart from the real ones: they would add tests to the real family (weakening its
discoveries) and say nothing about a real assistant. The figure of the providers pooled
is compared only between runs that pool the same providers: a run where one of them
failed pools a different mix, and its pooled figure would move with the mix alone.

Only counts are read (each rate's numerator and denominator, as the stored metrics keep
them): the tests never need the answers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

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
    synthetic: bool = False
    """A figure of the offline demo provider's answers (tested in the synthetic family)."""

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
    """One family of tests: figures tested together, their false discovery rate
    controlled (the real figures of a comparison, or its synthetic ones)."""

    tests: list[ChangeTest]
    level: float = FDR_LEVEL
    synthetic: bool = False

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
        kind = "synthetic (demo) figures: " if self.synthetic else ""
        return f"{kind}{tests}, false discovery rate controlled at {self.level * 100:g}% ({METHOD})"

    def get(self, figure: Figure) -> ChangeTest | None:
        return next((t for t in self.tests if t.figure == figure), None)


def compare_figures(
    before: Mapping[Figure, Rate],
    after: Mapping[Figure, Rate],
    *,
    level: float = FDR_LEVEL,
    synthetic: bool = False,
    untested: Mapping[Figure, str] | None = None,
) -> ChangeTests:
    """Test every figure of either side (a two-proportion test, Fisher's exact test for
    small counts: :func:`~echo_ai.analysis.statistics.change_p_value`) and adjust the
    p-values of those tested together (:func:`benjamini_hochberg`): one family. A figure
    missing on one side or without answers is listed, not tested, as is one of
    ``untested`` (with its reason)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    untested = untested or {}
    figures = sorted(set(before) | set(after), key=lambda figure: figure.order)
    p_values: dict[Figure, float] = {}
    for figure in figures:
        a, b = before.get(figure), after.get(figure)
        if a is not None and b is not None and _untestable(a, b) is None and figure not in untested:
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
                reason=untested.get(figure) or _untestable(a, b),
                synthetic=synthetic,
            )
        )
    return ChangeTests(tests, level, synthetic)


@dataclass(frozen=True)
class RunFigures:
    """The tested figures of one run, or of several runs pooled (a baseline)."""

    rates: Mapping[Figure, Rate]
    synthetic_providers: frozenset[str]
    """The providers whose answers are synthetic (the offline demo provider's)."""
    pools: tuple[frozenset[str], ...]
    """For each run, the providers its pooled figures (``provider`` None) pool: the real
    ones when any ran, else the demo."""

    @property
    def pooled_synthetic(self) -> bool:
        """The pooled figures come from the demo's answers (no real provider ran)."""
        return any(pool and pool <= self.synthetic_providers for pool in self.pools)

    def is_synthetic(self, figure: Figure) -> bool:
        if figure.provider is None:
            return self.pooled_synthetic
        return figure.provider in self.synthetic_providers


def pool_runs(runs: Sequence[RunFigures]) -> RunFigures:
    """Several runs' figures pooled by summing counts (:func:`pool_figures`), each run's
    pooled providers kept to be compared."""
    return RunFigures(
        pool_figures(run.rates for run in runs),
        frozenset().union(*(run.synthetic_providers for run in runs)),
        tuple(pool for run in runs for pool in run.pools),
    )


def different_pools(*runs: RunFigures) -> str | None:
    """Why the pooled figures of these runs are not comparable (None when they are): they
    pool different providers, named."""
    pools = [pool for run in runs for pool in run.pools]
    if not pools or all(pool == pools[0] for pool in pools):
        return None
    differ = sorted(frozenset().union(*pools) - frozenset.intersection(*pools))
    return (
        f"not tested: the runs pool different providers (not in all of them: {', '.join(differ)})"
    )


@dataclass(frozen=True)
class ComparisonTests:
    """Every figure of one comparison: the real figures tested as one family, the
    synthetic (demo) ones as another, each with its own adjustment and statement."""

    families: list[ChangeTests]
    """The real family, then the synthetic one (each present when it has a figure; one
    empty real family when neither has)."""
    pooled_note: str | None = None
    """Why the pooled figures are not tested: the runs pool different providers."""

    @property
    def level(self) -> float:
        return self.families[0].level

    @property
    def tests(self) -> list[ChangeTest]:
        return [test for family in self.families for test in family.tests]

    @property
    def tested(self) -> int:
        return sum(family.tested for family in self.families)

    @property
    def significant(self) -> list[ChangeTest]:
        """The significant changes: the real ones, then the synthetic ones."""
        return [test for family in self.families for test in family.significant]

    @property
    def synthetic(self) -> bool:
        return any(family.synthetic for family in self.families)

    @property
    def statement(self) -> str:
        """What was controlled, family by family."""
        return "; ".join(family.statement for family in self.families)

    def get(self, figure: Figure) -> ChangeTest | None:
        return next((t for t in self.tests if t.figure == figure), None)


def compare_run_figures(
    before: RunFigures, after: RunFigures, *, level: float = FDR_LEVEL
) -> ComparisonTests:
    """Test every figure of two runs (or of a baseline and a run), real and synthetic
    figures apart (:func:`compare_figures` each), the pooled figures only when both sides
    pool the same providers. A figure is synthetic when it is on either side."""
    figures = set(before.rates) | set(after.rates)
    synthetic = {f for f in figures if before.is_synthetic(f) or after.is_synthetic(f)}
    untested: dict[Figure, str] = {}
    why = different_pools(before, after)
    if why is not None:
        untested = {figure: why for figure in figures if figure.provider is None}
    families = []
    for kind in (False, True):
        mine = {f for f in figures if (f in synthetic) == kind}
        if mine:
            families.append(
                compare_figures(
                    {f: r for f, r in before.rates.items() if f in mine},
                    {f: r for f, r in after.rates.items() if f in mine},
                    level=level,
                    synthetic=kind,
                    untested=untested,
                )
            )
    return ComparisonTests(families or [compare_figures({}, {}, level=level)], why)


def adjust_together(comparisons: Sequence[ComparisonTests]) -> list[ComparisonTests]:
    """Several comparisons made at once (experiments B, C, ... each against A) with their
    p-values adjusted together, the real figures of all as one family and the synthetic
    ones as another: the false discovery rate is controlled across every test shown, not
    comparison by comparison (which would let the false discoveries grow with the number
    of experiments). Each test keeps its p-value; its q-value and verdict are the joint
    adjustment's."""
    if not comparisons:
        return []
    level = comparisons[0].level
    q_values: dict[int, float] = {}
    for kind in (False, True):
        tested = [
            test
            for comparison in comparisons
            for family in comparison.families
            if family.synthetic == kind
            for test in family.tests
            if test.p_value is not None
        ]
        adjusted = benjamini_hochberg([test.p_value for test in tested if test.p_value is not None])
        q_values.update(zip(map(id, tested), adjusted, strict=True))

    def joint(test: ChangeTest) -> ChangeTest:
        q = q_values.get(id(test))
        return test if q is None else replace(test, q_value=q, significant=q <= level)

    return [
        replace(
            comparison,
            families=[
                replace(family, tests=[joint(test) for test in family.tests])
                for family in comparison.families
            ],
        )
        for comparison in comparisons
    ]


def joint_statement(comparisons: Sequence[ComparisonTests]) -> str:
    """What :func:`adjust_together` controlled, in a sentence per family (real, then
    synthetic), as :attr:`ChangeTests.statement` says it of one comparison."""
    level = comparisons[0].level if comparisons else FDR_LEVEL
    families = [family for comparison in comparisons for family in comparison.families]
    count = f"{len(comparisons)} comparison{'' if len(comparisons) == 1 else 's'}"
    parts = []
    for kind in (False, True):
        mine = [family for family in families if family.synthetic == kind]
        if not mine and (kind or families):
            continue
        tested = sum(family.tested for family in mine)
        prefix = "synthetic (demo) figures: " if kind else ""
        parts.append(
            f"{prefix}{tested} test{'' if tested == 1 else 's'} across {count}, false "
            f"discovery rate controlled together at {level * 100:g}% ({METHOD})"
        )
    return "; ".join(parts)


@dataclass(frozen=True)
class RunSignificance:
    """A run's figures tested against the previous complete run and against a baseline:
    the complete runs among the previous ``baseline_runs``, their counts pooled. Each
    comparison's real figures are a family of their own, its synthetic ones another, each
    with its false discovery rate controlled."""

    round: int
    complete: bool
    synthetic: bool
    """The run or a run it is compared with has demo answers: synthetic figures show."""
    baseline_runs: int
    previous: int | None
    """The run compared with (None: no complete run among the previous ones)."""
    vs_previous: ComparisonTests | None
    baseline: list[int]
    """The runs pooled as the baseline, newest first (empty: none)."""
    vs_baseline: ComparisonTests | None

    @property
    def note(self) -> str | None:
        """Why the run is not (wholly) tested, in a sentence."""
        if self.previous is None:
            return f"not tested: no complete run among the previous {self.baseline_runs}"
        if not self.complete:
            return "run in progress: only its finished providers are tested"
        return None
