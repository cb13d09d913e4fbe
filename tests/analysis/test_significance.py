"""Tests of change between runs and the Benjamini–Hochberg control of the false discovery
rate: against the published example, against statsmodels, and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from echo_ai.analysis.metrics import IterationFacts, Rate, compute_metrics
from echo_ai.analysis.significance import (
    FDR_LEVEL,
    ComparisonTests,
    Figure,
    Metric,
    RunFigures,
    adjust_together,
    benjamini_hochberg,
    compare_figures,
    compare_run_figures,
    figures_of,
    joint_statement,
    pool_figures,
    pool_runs,
    q_text,
)
from echo_ai.analysis.statistics import change_p_value, fisher_exact_p_value
from tests.kit import untraced

# Benjamini & Hochberg (1995), section 4.2: fifteen p-values of a clinical trial; at level
# 0.05 the procedure rejects the four smallest (Bonferroni would reject three).
BH_1995 = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
    0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000,
]  # fmt: skip
# R: p.adjust(BH_1995, method = "BH")
BH_1995_ADJUSTED = [
    0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.06385714, 0.06385714, 0.0645,
    0.0765, 0.486, 0.58118182, 0.714875, 0.75323077, 0.81321429, 1.0,
]  # fmt: skip


def test_benjamini_hochberg_reproduces_the_published_example() -> None:
    adjusted = benjamini_hochberg(BH_1995)
    assert adjusted == pytest.approx(BH_1995_ADJUSTED, abs=1e-8)
    assert sum(q <= 0.05 for q in adjusted) == 4
    assert sum(p <= 0.05 / len(BH_1995) for p in BH_1995) == 3  # Bonferroni, for contrast


def test_benjamini_hochberg_keeps_the_order_given() -> None:
    shuffled = [BH_1995[i] for i in (14, 3, 0, 9, 6, 5)]
    expected = multipletests(shuffled, method="fdr_bh")[1]
    assert benjamini_hochberg(shuffled) == pytest.approx(list(expected), abs=1e-12)


def test_benjamini_hochberg_agrees_with_statsmodels() -> None:
    rng = np.random.default_rng(11)
    for m in (1, 2, 7, 40, 200):
        p_values = np.concatenate([rng.uniform(size=m - m // 4), rng.uniform(0, 0.01, m // 4)])
        p_values[rng.integers(m)] = p_values[0]  # ties
        ours = benjamini_hochberg(list(p_values))
        reference = multipletests(p_values, method="fdr_bh")[1]
        assert ours == pytest.approx(list(reference), abs=1e-12)


def test_benjamini_hochberg_of_nothing_and_of_invalid_p_values() -> None:
    assert benjamini_hochberg([]) == []
    with pytest.raises(ValueError, match="p-values"):
        benjamini_hochberg([0.2, 1.5])


def _any_discovery_rate(rng: np.random.Generator, *, comparisons: int, n: int) -> float:
    """Share of A/A comparisons (two runs with the same true rates on 40 figures, of which
    some rare) in which some change is called significant at the controlled level."""
    figures = 40
    rates = np.concatenate([rng.uniform(0.05, 0.95, figures - 8), rng.uniform(0.005, 0.03, 8)])
    before = rng.binomial(n, rates, size=(comparisons, figures))
    after = rng.binomial(n, rates, size=(comparisons, figures))
    hits = 0
    for row_before, row_after in zip(before, after, strict=True):
        p_values = [
            change_p_value(int(x1), n, int(x2), n)
            for x1, x2 in zip(row_before, row_after, strict=True)
        ]
        hits += min(benjamini_hochberg(p_values)) <= FDR_LEVEL
    return hits / comparisons


@untraced
def test_under_no_change_a_false_discovery_is_as_rare_as_the_level() -> None:
    """With nothing changed every discovery is false, so the false discovery rate is the
    chance of any discovery: it stays at most 5% (with the simulation's error)."""
    rng = np.random.default_rng(2026)
    rate = _any_discovery_rate(rng, comparisons=2_000, n=150)
    # 2,000 comparisons: the standard error at 5% is 0.5 points.
    assert rate <= FDR_LEVEL + 0.015
    # Uncorrected, forty tests at 5% each find "something" in most comparisons.
    assert rate < 0.3


@untraced
def test_real_changes_are_found_among_many_unchanged_figures() -> None:
    rng = np.random.default_rng(7)
    found = 0
    comparisons = 200
    for _ in range(comparisons):
        rates = rng.uniform(0.2, 0.6, 30)
        shifted = rates.copy()
        shifted[:3] += 0.25  # three figures really moved by 25 points
        before = {Figure(None, Metric.MENTION_RATE, f"b{i}"): r for i, r in enumerate(rates)}
        x1 = rng.binomial(200, rates)
        x2 = rng.binomial(200, shifted)
        tests = compare_figures(
            {figure: Rate.of(int(x), 200) for figure, x in zip(before, x1, strict=True)},
            {figure: Rate.of(int(x), 200) for figure, x in zip(before, x2, strict=True)},
        )
        found += sum(t.figure.brand in {"b0", "b1", "b2"} for t in tests.significant)
    assert found / (3 * comparisons) > 0.95


def test_compare_figures_tests_together_what_both_runs_have() -> None:
    visibility = Figure(None, Metric.VISIBILITY)
    top1 = Figure(None, Metric.TOP1)
    openai = Figure("openai:gpt-4o", Metric.VISIBILITY)
    new_brand = Figure(None, Metric.MENTION_RATE, "Attio")
    empty = Figure("demo:demo", Metric.VISIBILITY)
    before = {
        visibility: Rate.of(30, 100),
        top1: Rate.of(10, 100),
        openai: Rate.of(15, 50),
        empty: Rate.of(0, 0),
    }
    after = {
        visibility: Rate.of(60, 100),
        top1: Rate.of(12, 100),
        openai: Rate.of(16, 50),
        new_brand: Rate.of(5, 100),
        empty: Rate.of(3, 10),
    }
    tests = compare_figures(before, after)

    assert tests.tested == 3
    assert tests.statement == (
        "3 tests, false discovery rate controlled at 5% (Benjamini–Hochberg)"
    )
    assert [t.figure for t in tests.tests] == [visibility, new_brand, top1, empty, openai]
    p_values = [change_p_value(30, 100, 60, 100), change_p_value(10, 100, 12, 100)]
    p_values.append(change_p_value(15, 50, 16, 50))
    q_values = benjamini_hochberg(p_values)
    moved = tests.get(visibility)
    assert moved is not None and moved.p_value == pytest.approx(p_values[0])
    assert moved.q_value == pytest.approx(q_values[0])
    assert moved.significant and moved.points == pytest.approx(0.3)
    assert moved.q_text == "q < 0.001" and moved.p_text == "p < 0.001"
    assert [t.figure for t in tests.significant] == [visibility]

    missing = tests.get(new_brand)
    assert missing is not None and not missing.tested and not missing.significant
    assert missing.reason == "no figure in one of the runs" and missing.points is None
    assert missing.q_text == "not tested"
    no_answers = tests.get(empty)
    assert no_answers is not None and not no_answers.tested
    assert no_answers.reason == "no complete answer in one of the runs"


def test_compare_figures_uses_fisher_for_small_counts() -> None:
    figure = Figure(None, Metric.CITATION_RATE)
    tests = compare_figures({figure: Rate.of(0, 10)}, {figure: Rate.of(4, 10)})
    only = tests.get(figure)
    assert only is not None
    assert only.p_value == pytest.approx(fisher_exact_p_value(0, 10, 4, 10))
    assert only.q_value == only.p_value  # one test: nothing to adjust
    assert not only.significant


def test_the_level_is_a_probability() -> None:
    with pytest.raises(ValueError, match="level"):
        compare_figures({}, {}, level=0.0)


def test_figures_of_a_batch_name_the_target_once() -> None:
    facts = [
        IterationFacts(
            success=True,
            brands=("HubSpot", "Salesforce"),
            target_cited=i % 2 == 0,
            cost_usd=None,
            latency_ms=None,
        )
        for i in range(4)
    ]
    metrics = compute_metrics(facts, target="HubSpot", brands=["Salesforce", "Pipedrive"])
    figures = figures_of(metrics, provider="demo:demo", target="HubSpot")
    assert set(figures) == {
        Figure("demo:demo", Metric.VISIBILITY),
        Figure("demo:demo", Metric.TOP1),
        Figure("demo:demo", Metric.TOP3),
        Figure("demo:demo", Metric.CITATION_RATE),
        Figure("demo:demo", Metric.MENTION_RATE, "Salesforce"),
        Figure("demo:demo", Metric.MENTION_RATE, "Pipedrive"),
    }
    assert figures[Figure("demo:demo", Metric.CITATION_RATE)] == Rate.of(2, 4)
    assert Figure("demo:demo", Metric.MENTION_RATE, "Salesforce").label == (
        "Salesforce mention rate, demo:demo"
    )
    assert Figure(None, Metric.TOP3).label == "top-3 rate, all providers"


def test_pooled_figures_sum_counts() -> None:
    a, b = Figure(None, Metric.VISIBILITY), Figure(None, Metric.MENTION_RATE, "Zoho CRM")
    pooled = pool_figures([{a: Rate.of(3, 10), b: Rate.of(1, 10)}, {a: Rate.of(7, 30)}])
    assert pooled == {a: Rate.of(10, 40), b: Rate.of(1, 10)}


def test_q_values_read_as_such() -> None:
    assert q_text(0.0123) == "q = 0.012"
    assert q_text(0.0004) == "q < 0.001"
    assert q_text(1.0) == "q = 1.000"
    assert q_text(0.04, "p") == "p = 0.040"


def mixed_comparison() -> ComparisonTests:
    """A run with a real provider and the demo against the previous run: the demo's
    visibility jumped, the real one did not move; anthropic failed in the later run."""
    real, demo, failed = "openai:gpt-4o-mini", "demo:demo-synthetic-1", "anthropic:claude-haiku-4-5"

    def run(demo_mentions: int, pool: frozenset[str]) -> RunFigures:
        rates = {
            Figure(None, Metric.VISIBILITY): Rate.of(30, 100),
            Figure(real, Metric.VISIBILITY): Rate.of(30, 100),
            Figure(demo, Metric.VISIBILITY): Rate.of(demo_mentions, 100),
        }
        return RunFigures(rates, frozenset({demo}), (pool,))

    return compare_run_figures(run(20, frozenset({real, failed})), run(90, frozenset({real})))


def test_real_and_synthetic_figures_are_families_apart() -> None:
    tests = mixed_comparison()
    real, synthetic = tests.families
    assert [t.figure.provider for t in real.tests] == [None, "openai:gpt-4o-mini"]
    assert [t.figure.provider for t in synthetic.tests] == ["demo:demo-synthetic-1"]
    # Each family adjusted over its own tests: one test each, its q is its p.
    [demo] = synthetic.tests
    assert demo.synthetic and demo.q_value == demo.p_value and demo.significant
    assert tests.significant == [demo] and tests.tested == 2
    pooled = real.get(Figure(None, Metric.VISIBILITY))
    assert pooled is not None and not pooled.tested and pooled.reason == tests.pooled_note


def test_a_baseline_pools_comparable_figures_only_when_every_run_pools_the_same() -> None:
    visibility = Figure(None, Metric.VISIBILITY)
    both = frozenset({"openai:gpt-4o", "anthropic:claude-haiku-4-5"})

    def run(x: int, pool: frozenset[str]) -> RunFigures:
        return RunFigures({visibility: Rate.of(x, 100)}, frozenset(), (pool,))

    same = compare_run_figures(pool_runs([run(30, both), run(40, both)]), run(80, both))
    tested = same.get(visibility)
    assert tested is not None and tested.before == Rate.of(70, 200) and tested.significant
    assert same.pooled_note is None and [f.synthetic for f in same.families] == [False]

    one_failed = pool_runs([run(30, both), run(10, frozenset({"openai:gpt-4o"}))])
    differ = compare_run_figures(one_failed, run(80, both))
    untested = differ.get(visibility)
    assert untested is not None and not untested.tested and not untested.significant
    assert differ.pooled_note == (
        "not tested: the runs pool different providers (not in all of them: "
        "anthropic:claude-haiku-4-5)"
    )
    # A demo-only run's pooled figure is synthetic: against a real pool it is neither
    # tested nor counted among the real tests.
    demo = RunFigures(
        {visibility: Rate.of(50, 100)}, frozenset({"demo:x"}), (frozenset({"demo:x"}),)
    )
    apart = compare_run_figures(demo, run(80, both))
    assert [f.synthetic for f in apart.families] == [True] and apart.tested == 0


def test_nothing_to_compare_is_one_empty_family() -> None:
    empty = RunFigures({}, frozenset(), ())
    tests = compare_run_figures(empty, empty)
    assert isinstance(tests, ComparisonTests) and tests.tested == 0
    assert tests.statement == "0 tests, false discovery rate controlled at 5% (Benjamini–Hochberg)"


def _run(rates: dict[Figure, Rate], synthetic: frozenset[str] = frozenset()) -> RunFigures:
    return RunFigures(rates, synthetic, (frozenset({"openai:gpt-4o", "demo:demo"}),))


def test_comparisons_adjusted_together_control_the_rate_across_all_their_tests() -> None:
    """B, C and D each against A: the q-values are Benjamini–Hochberg's over every real
    test of the three comparisons at once (checked against statsmodels), the synthetic
    tests adjusted apart; one comparison alone keeps its own q-values."""
    real = [Figure("openai:gpt-4o", Metric.VISIBILITY), Figure("openai:gpt-4o", Metric.TOP1)]
    demo = Figure("demo:demo", Metric.VISIBILITY)
    synthetic = frozenset({"demo:demo"})
    a = _run(
        {real[0]: Rate.of(40, 100), real[1]: Rate.of(20, 100), demo: Rate.of(50, 100)}, synthetic
    )
    others = [
        _run({real[0]: Rate.of(n, 100), real[1]: Rate.of(m, 100), demo: Rate.of(d, 100)}, synthetic)
        for n, m, d in ((55, 22, 52), (42, 35, 70), (40, 20, 49))
    ]
    separately = [compare_run_figures(a, other) for other in others]
    joint = adjust_together(separately)

    for kind in (False, True):
        p_values = [
            test.p_value
            for comparison in separately
            for test in comparison.tests
            if test.synthetic == kind and test.p_value is not None
        ]
        expected = multipletests(p_values, method="fdr_bh")[1]
        q_values = [
            test.q_value
            for comparison in joint
            for test in comparison.tests
            if test.synthetic == kind and test.q_value is not None
        ]
        assert q_values == pytest.approx(list(expected), abs=1e-12)
        assert len(q_values) == (3 if kind else 6)
    for before, after in zip(separately, joint, strict=True):
        for test, adjusted in zip(before.tests, after.tests, strict=True):
            assert (test.figure, test.p_value) == (adjusted.figure, adjusted.p_value)
            assert adjusted.significant == (
                adjusted.q_value is not None and adjusted.q_value <= FDR_LEVEL
            )
            assert (
                adjusted.q_value is None or adjusted.q_value >= test.q_value - 1e-12
            )  # never laxer
    assert "6 tests across 3 comparisons" in joint_statement(joint)
    assert "synthetic (demo) figures: 3 tests" in joint_statement(joint)
    assert adjust_together(separately[:1]) == separately[:1]
    assert adjust_together([]) == []
