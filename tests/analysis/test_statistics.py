"""Statistics checked against independent implementations (statsmodels, scipy, numpy)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from echo_ai.analysis.statistics import (
    bootstrap_ratio_interval,
    fisher_exact_p_value,
    mean_pairwise_jaccard,
    percentile,
    significant_change,
    two_proportion_p_value,
    wilson_interval,
)

CONFIDENCES = st.sampled_from([0.8, 0.9, 0.95, 0.99, 0.999])


@st.composite
def counts(draw: st.DrawFn, max_n: int = 2000) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=max_n))
    # Edges 0 and n are where interval formulas usually break, so draw them often.
    x = draw(st.one_of(st.just(0), st.just(n), st.integers(min_value=0, max_value=n)))
    return x, n


# --- Wilson interval -------------------------------------------------------------------


@given(counts(), CONFIDENCES)
def test_wilson_matches_statsmodels(sample: tuple[int, int], confidence: float) -> None:
    x, n = sample
    expected = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
    low, high = wilson_interval(x, n, confidence=confidence)
    assert low == pytest.approx(expected[0], abs=1e-12)
    assert high == pytest.approx(expected[1], abs=1e-12)
    assert 0.0 <= low <= x / n <= high <= 1.0


@pytest.mark.parametrize("n", [1, 2, 5, 30, 1000])
def test_wilson_edges_are_exact(n: int) -> None:
    assert wilson_interval(0, n)[0] == 0.0
    assert wilson_interval(n, n)[1] == 1.0
    assert wilson_interval(0, n)[1] > 0.0
    assert wilson_interval(n, n)[0] < 1.0


def test_wilson_known_value() -> None:
    # 0/10 at 95%: upper bound z^2 / (n + z^2) with z = 1.959964.
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 10)[1] == pytest.approx(z2 / (10 + z2), rel=1e-12)


def test_wilson_narrows_with_more_data() -> None:
    small = wilson_interval(30, 100)
    large = wilson_interval(300, 1000)
    assert large[1] - large[0] < small[1] - small[0]


def test_wilson_wider_with_more_confidence() -> None:
    low90, high90 = wilson_interval(30, 100, confidence=0.9)
    low99, high99 = wilson_interval(30, 100, confidence=0.99)
    assert low99 < low90
    assert high99 > high90


@pytest.mark.parametrize(
    ("x", "n", "confidence", "message"),
    [
        (0, 0, 0.95, "at least one trial"),
        (-1, 10, 0.95, "successes must lie"),
        (11, 10, 0.95, "successes must lie"),
        (5, 10, 0.0, "confidence"),
        (5, 10, 1.0, "confidence"),
        (5, -1, 0.95, "sample size"),
    ],
)
def test_wilson_rejects_invalid_input(x: int, n: int, confidence: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wilson_interval(x, n, confidence=confidence)


# --- bootstrap ------------------------------------------------------------------------


def _naive_bootstrap(
    numerators: list[int], denominators: list[int], resamples: int, seed: int
) -> tuple[float, float]:
    """Textbook percentile bootstrap: resample row indices, drop zero denominators."""
    rng = np.random.default_rng(seed + 1_000)
    nums = np.asarray(numerators)
    dens = np.asarray(denominators)
    idx = rng.integers(0, len(nums), size=(resamples, len(nums)))
    num_sums = nums[idx].sum(axis=1)
    den_sums = dens[idx].sum(axis=1)
    keep = den_sums > 0
    low, high = np.quantile(num_sums[keep] / den_sums[keep], [0.025, 0.975])
    return float(low), float(high)


def _share_of_voice_sample(n: int, seed: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    numerators = [int(rng.random() < 0.4) for _ in range(n)]
    denominators = [num + rng.randint(0, 4) for num in numerators]
    return numerators, denominators


def test_bootstrap_none_without_data() -> None:
    assert bootstrap_ratio_interval([], []) is None
    assert bootstrap_ratio_interval([0, 0, 0], [0, 0, 0]) is None


def test_bootstrap_rejects_invalid_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        bootstrap_ratio_interval([1, 2], [3])
    with pytest.raises(ValueError, match="non-negative"):
        bootstrap_ratio_interval([-1], [3])
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ratio_interval([1], [3], resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ratio_interval([1], [3], confidence=1.0)


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 4)).map(lambda t: (min(t), max(t))),
        min_size=1,
        max_size=60,
    ),
    st.integers(0, 2**32),
)
@settings(max_examples=60)
def test_bootstrap_contains_point_estimate(rows: list[tuple[int, int]], seed: int) -> None:
    numerators = [row[0] for row in rows]
    denominators = [row[1] for row in rows]
    assume(sum(denominators) > 0)
    interval = bootstrap_ratio_interval(numerators, denominators, resamples=300, seed=seed)
    assert interval is not None
    point = sum(numerators) / sum(denominators)
    assert 0.0 <= interval[0] <= point <= interval[1] <= 1.0


def test_bootstrap_narrower_with_more_data() -> None:
    numerators, denominators = _share_of_voice_sample(50, seed=1)
    small = bootstrap_ratio_interval(numerators, denominators)
    large = bootstrap_ratio_interval(numerators * 16, denominators * 16)
    assert small is not None
    assert large is not None
    # Sixteen times the data: the width should shrink by about four.
    assert (large[1] - large[0]) < 0.4 * (small[1] - small[0])


def test_bootstrap_is_seeded_and_order_free() -> None:
    numerators, denominators = _share_of_voice_sample(200, seed=2)
    first = bootstrap_ratio_interval(numerators, denominators, seed=7)
    assert first == bootstrap_ratio_interval(numerators, denominators, seed=7)
    rows = list(zip(numerators, denominators, strict=True))
    random.Random(3).shuffle(rows)
    shuffled = bootstrap_ratio_interval([r[0] for r in rows], [r[1] for r in rows], seed=7)
    assert shuffled == first
    assert bootstrap_ratio_interval(numerators, denominators, seed=8) != first


def test_bootstrap_of_a_proportion_agrees_with_wilson() -> None:
    # With every denominator 1 the ratio is a plain proportion, whose Wilson interval
    # is an independent estimate of the same uncertainty.
    rng = random.Random(4)
    numerators = [int(rng.random() < 0.3) for _ in range(2000)]
    interval = bootstrap_ratio_interval(numerators, [1] * 2000, resamples=4000)
    assert interval is not None
    wilson = wilson_interval(sum(numerators), 2000)
    assert interval[0] == pytest.approx(wilson[0], abs=0.006)
    assert interval[1] == pytest.approx(wilson[1], abs=0.006)


def test_bootstrap_few_distinct_rows_agrees_with_textbook_resampling() -> None:
    numerators, denominators = _share_of_voice_sample(400, seed=5)
    ours = bootstrap_ratio_interval(numerators, denominators, resamples=4000)
    reference = _naive_bootstrap(numerators, denominators, 4000, seed=5)
    assert ours is not None
    assert ours[0] == pytest.approx(reference[0], abs=0.01)
    assert ours[1] == pytest.approx(reference[1], abs=0.01)


@pytest.mark.parametrize("block_cells", [2_000_000, 1_000])
def test_bootstrap_many_distinct_rows_agrees_with_textbook_resampling(block_cells: int) -> None:
    # A small block size forces the memory-bounded loop to run many times.
    rng = random.Random(6)
    numerators = [rng.randint(0, 50) for _ in range(300)]
    denominators = [num + rng.randint(0, 60) for num in numerators]
    ours = bootstrap_ratio_interval(
        numerators, denominators, resamples=3000, block_cells=block_cells
    )
    reference = _naive_bootstrap(numerators, denominators, 3000, seed=6)
    assert ours is not None
    assert ours[0] == pytest.approx(reference[0], abs=0.01)
    assert ours[1] == pytest.approx(reference[1], abs=0.01)


def test_bootstrap_drops_resamples_without_denominator() -> None:
    # One answer in ten names any brand: many resamples of 10 have denominator 0.
    interval = bootstrap_ratio_interval([1] + [0] * 9, [2] + [0] * 9, seed=1)
    assert interval == (0.5, 0.5)


# --- Jaccard ----------------------------------------------------------------------------


def _naive_jaccard(sets: list[frozenset[str]]) -> float:
    similarities = [
        1.0 if not (a | b) else len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2)
    ]
    return sum(similarities) / len(similarities)


BRAND_SETS = st.lists(
    st.frozensets(st.sampled_from(["acme", "globex", "initech", "umbrella", "hooli"])),
    min_size=2,
    max_size=40,
)


@given(BRAND_SETS)
def test_jaccard_matches_pairwise_definition(sets: list[frozenset[str]]) -> None:
    result = mean_pairwise_jaccard(sets)
    assert result == pytest.approx(_naive_jaccard(sets), abs=1e-12)
    assert result is not None
    assert 0.0 <= result <= 1.0


@given(BRAND_SETS)
@settings(max_examples=30)
def test_jaccard_blocked_computation_matches(sets: list[frozenset[str]]) -> None:
    # Tiny blocks force many passes of the memory-bounded loop.
    assert mean_pairwise_jaccard(sets, block_cells=3) == pytest.approx(
        _naive_jaccard(sets), abs=1e-12
    )


def test_jaccard_special_cases() -> None:
    acme = frozenset({"acme"})
    assert mean_pairwise_jaccard([]) is None
    assert mean_pairwise_jaccard([acme]) is None
    assert mean_pairwise_jaccard([frozenset(), frozenset()]) == 1.0
    assert mean_pairwise_jaccard([acme] * 5) == 1.0
    assert mean_pairwise_jaccard([acme, frozenset({"globex"})]) == 0.0
    assert mean_pairwise_jaccard([acme, frozenset()]) == 0.0
    assert mean_pairwise_jaccard([frozenset({"a", "b"}), frozenset({"b", "c"})]) == (
        pytest.approx(1 / 3)
    )


def test_jaccard_thousands_of_distinct_sets_is_right() -> None:
    rng = random.Random(9)
    universe = [f"brand{i}" for i in range(40)]
    sets = [frozenset(rng.sample(universe, rng.randint(0, 12))) for _ in range(3000)]
    result = mean_pairwise_jaccard(sets)
    # The naive definition on all 4.5 million pairs is too slow for a unit test; a
    # repeated sample has the same mean because duplication preserves pair weights.
    head = sets[:300]
    assert mean_pairwise_jaccard(head) == pytest.approx(_naive_jaccard(head), abs=1e-12)
    assert result is not None
    assert 0.0 < result < 1.0


# --- percentile ------------------------------------------------------------------------


@given(
    st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=50),
    st.floats(min_value=0.0, max_value=100.0),
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    expected = float(np.percentile(values, q))
    assert percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-6)


def test_percentile_edges() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    with pytest.raises(ValueError, match="q must lie"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="NaN"):
        percentile([1.0, math.nan], 50)


# --- significance tests ----------------------------------------------------------------


@given(counts(max_n=5000), counts(max_n=5000))
def test_z_test_matches_statsmodels(first: tuple[int, int], second: tuple[int, int]) -> None:
    (x1, n1), (x2, n2) = first, second
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        assert two_proportion_p_value(x1, n1, x2, n2) == 1.0
        return
    _, expected = proportions_ztest([x1, x2], [n1, n2])
    assert two_proportion_p_value(x1, n1, x2, n2) == pytest.approx(
        float(expected), rel=1e-9, abs=1e-300
    )


@given(counts(max_n=150), counts(max_n=150))
@settings(max_examples=300)
def test_fisher_matches_scipy(first: tuple[int, int], second: tuple[int, int]) -> None:
    (x1, n1), (x2, n2) = first, second
    _, expected = fisher_exact([[x1, n1 - x1], [x2, n2 - x2]])
    result = fisher_exact_p_value(x1, n1, x2, n2)
    assert result == pytest.approx(float(expected), rel=1e-9, abs=1e-300)
    assert 0.0 < result <= 1.0


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"),
    [(0, 1, 0, 1), (1, 1, 0, 1), (5, 10, 5, 10), (3000, 20000, 3400, 20000), (0, 40, 40, 40)],
)
def test_fisher_edges_and_large_samples(x1: int, n1: int, x2: int, n2: int) -> None:
    _, expected = fisher_exact([[x1, n1 - x1], [x2, n2 - x2]])
    assert fisher_exact_p_value(x1, n1, x2, n2) == pytest.approx(
        float(expected), rel=1e-8, abs=1e-300
    )


def test_fisher_known_value() -> None:
    # Fisher's lady tasting tea: 3 of 4 cups right each way, p = 0.4857 (two-sided).
    assert fisher_exact_p_value(3, 4, 1, 4) == pytest.approx(34 / 70)


@pytest.mark.parametrize("call", [two_proportion_p_value, fisher_exact_p_value, significant_change])
def test_comparisons_reject_empty_or_invalid_samples(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="at least one trial"):
        call(0, 0, 1, 10)
    with pytest.raises(ValueError, match="successes must lie"):
        call(11, 10, 1, 10)


def test_significant_change_uses_fisher_for_small_counts() -> None:
    # 0/10 versus 4/10: the z test would call this significant (p = 0.025) but the
    # expected count of successes is 2, so Fisher decides (p = 0.087).
    assert two_proportion_p_value(0, 10, 4, 10) < 0.05
    assert fisher_exact_p_value(0, 10, 4, 10) > 0.05
    assert not significant_change(0, 10, 4, 10)


def test_significant_change_on_large_samples() -> None:
    assert significant_change(300, 1000, 360, 1000)
    assert not significant_change(300, 1000, 310, 1000)
    assert significant_change(300, 1000, 310, 1000, alpha=0.9)
    with pytest.raises(ValueError, match="alpha"):
        significant_change(300, 1000, 310, 1000, alpha=0.0)


@given(counts(max_n=400), counts(max_n=400), st.sampled_from([0.01, 0.05, 0.1]))
def test_significant_change_picks_the_test_by_expected_counts(
    first: tuple[int, int], second: tuple[int, int], alpha: float
) -> None:
    (x1, n1), (x2, n2) = first, second
    total, successes = n1 + n2, x1 + x2
    expected_cells = [n * k / total for n in (n1, n2) for k in (successes, total - successes)]
    if min(expected_cells) < 5:
        _, p_value = fisher_exact([[x1, n1 - x1], [x2, n2 - x2]])
    else:
        _, p_value = proportions_ztest([x1, x2], [n1, n2])
    # Skip decisions that sit on the threshold, where rounding may flip either way.
    assume(abs(float(p_value) - alpha) > 1e-9)
    assert significant_change(x1, n1, x2, n2, alpha=alpha) == (float(p_value) < alpha)
