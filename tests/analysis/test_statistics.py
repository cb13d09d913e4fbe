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
    average_interval,
    change_p_value,
    fisher_exact_p_value,
    mean_pairwise_jaccard,
    percentile,
    share_interval,
    share_score_interval,
    temperature_warning,
    two_proportion_p_value,
    wilson_interval,
)
from echo_ai.experiments.schemas import temperatures_used
from echo_ai.runs.models import BatchRun

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


# --- share of voice interval -----------------------------------------------------------


def _share_sample(n: int, seed: int, rate: float = 0.4) -> tuple[list[int], list[int]]:
    """Per answer: target named (0/1) and tracked brands named (target included)."""
    rng = random.Random(seed)
    named = [int(rng.random() < rate) for _ in range(n)]
    mentions = [flag + rng.randint(0, 4) for flag in named]
    return named, mentions


def test_share_interval_none_without_data() -> None:
    assert share_interval([], []) is None
    assert share_interval([0, 0, 0], [0, 0, 0]) is None


def test_share_interval_rejects_invalid_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        share_interval([1, 0], [3])
    with pytest.raises(ValueError, match="at most once"):
        share_interval([2], [3])
    with pytest.raises(ValueError, match="at least one brand"):
        share_interval([1], [0])
    with pytest.raises(ValueError, match="confidence"):
        share_interval([1], [2], confidence=1.0)


def test_none_of_n_keeps_an_upper_bound_above_zero() -> None:
    # 0 of 30 answers name the target while each names two competitors: the bootstrap
    # said [0, 0]; the true share could well be a few percent.
    low, high = share_interval([0] * 30, [2] * 30) or (None, None)
    assert low == 0.0
    assert high is not None and 0.03 < high < 0.1


def test_one_of_n_does_not_collapse_to_the_point() -> None:
    named = [1] + [0] * 29
    mentions = [3] + [2] * 29
    low, high = share_interval(named, mentions) or (None, None)
    point = 1 / 61
    assert low is not None and 0.0 < low < point
    # The bootstrap gave [0, 0.048]; the score interval reaches further.
    assert high is not None and high > 0.06


def test_a_target_named_alone_keeps_a_lower_bound_below_one() -> None:
    # Competitors are tracked but never named: the share is 1 here, but not for sure.
    low, high = share_interval([1] * 30, [1] * 30) or (None, None)
    assert high == 1.0
    assert low is not None and 0.85 < low < 1.0


@given(
    st.integers(min_value=1, max_value=400),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=1, max_value=5),
    CONFIDENCES,
)
def test_share_interval_is_wilson_when_every_answer_names_as_many_competitors(
    n: int, named: int, competitors: int, confidence: float
) -> None:
    # With K competitors in every answer the share is p / (p + K), a monotone function
    # of the target's rate p: the interval is Wilson's for p, mapped. When a side is seen
    # 1 to 3 times only, that side's bound may reach further (the Poisson bound for such
    # a count, against Wilson's dip in coverage there), never less far.
    assume(named <= n)
    ours = share_interval(
        [1] * named + [0] * (n - named),
        [1 + competitors] * named + [competitors] * (n - named),
        confidence=confidence,
    )
    low, high = proportion_confint(named, n, alpha=1 - confidence, method="wilson")
    assert ours is not None
    if 1 <= named <= 3:
        assert ours[0] <= low / (low + competitors) + 1e-9
    else:
        assert ours[0] == pytest.approx(low / (low + competitors), abs=1e-9)
    if n * competitors <= 3:
        assert ours[1] >= high / (high + competitors) - 1e-9
    else:
        # 1e-6: at n of n the bound sits where the restricted rate reaches 1, a square
        # root of a vanishing discriminant (rounding there moves it by ~1e-7).
        assert ours[1] == pytest.approx(high / (high + competitors), abs=1e-6)


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(min_value=0, max_value=6)), min_size=1, max_size=80
    ),
    st.randoms(use_true_random=False),
)
def test_share_interval_contains_the_point_and_ignores_order(
    rows: list[tuple[bool, int]], shuffler: random.Random
) -> None:
    named = [int(flag) for flag, _ in rows]
    mentions = [int(flag) + others for flag, others in rows]
    assume(sum(mentions) > 0)
    interval = share_interval(named, mentions)
    assert interval is not None
    point = sum(named) / sum(mentions)
    assert 0.0 <= interval[0] <= point <= interval[1] <= 1.0
    order = list(range(len(rows)))
    shuffler.shuffle(order)
    shuffled = share_interval([named[i] for i in order], [mentions[i] for i in order])
    assert shuffled == interval


def test_share_interval_narrows_with_more_answers() -> None:
    widths = []
    for n in (30, 300, 3000):
        named, mentions = _share_sample(n, seed=n)
        low, high = share_interval(named, mentions) or (0.0, 1.0)
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # Width shrinks like 1 / sqrt(n): ten times the answers, about a third of the width.
    assert widths[2] / widths[1] == pytest.approx(1 / math.sqrt(10), rel=0.2)


def test_share_interval_agrees_with_the_delta_method_on_large_samples() -> None:
    # Away from the edges and with many answers, every sound interval for a ratio of
    # means converges to the delta method's.
    named, mentions = _share_sample(20_000, seed=3)
    t = np.asarray(named, dtype=float)
    b = np.asarray(mentions, dtype=float)
    ratio = t.sum() / b.sum()
    se = math.sqrt(np.mean((t - ratio * b) ** 2) / len(t)) / b.mean()
    low, high = share_interval(named, mentions) or (0.0, 0.0)
    assert low == pytest.approx(ratio - 1.959964 * se, abs=0.002)
    assert high == pytest.approx(ratio + 1.959964 * se, abs=0.002)


def test_share_score_interval_from_totals_matches_the_per_answer_one() -> None:
    samples = [_share_sample(n, seed=n, rate=rate) for n, rate in ((30, 0.05), (200, 0.5))]
    totals = [
        (
            len(named),
            sum(named),
            sum(m - t for t, m in zip(named, mentions, strict=True)),
            sum((m - t) ** 2 for t, m in zip(named, mentions, strict=True)),
            sum(t * (m - t) for t, m in zip(named, mentions, strict=True)),
        )
        for named, mentions in samples
    ]
    columns = [np.array(column, dtype=np.int64) for column in zip(*totals, strict=True)]
    lows, highs = share_score_interval(*columns)
    for index, (named, mentions) in enumerate(samples):
        assert (lows[index], highs[index]) == share_interval(named, mentions)


# --- average over providers -------------------------------------------------------------


def test_average_interval_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        average_interval([])
    with pytest.raises(ValueError, match="within its interval"):
        average_interval([(0.5, 0.6, 0.7)])


def test_average_of_one_estimate_is_that_estimate() -> None:
    assert average_interval([(0.3, 0.2, 0.45)]) == pytest.approx((0.3, 0.2, 0.45))


def test_average_of_providers_that_never_name_the_brand_has_an_upper_bound() -> None:
    estimates = [(0.0, 0.0, wilson_interval(0, n)[1]) for n in (30, 60, 100)]
    mean, low, high = average_interval(estimates)
    assert (mean, low) == (0.0, 0.0)
    # MOVER: sqrt of the summed squared half-widths over k.
    expected = math.sqrt(sum(h * h for _, _, h in estimates)) / 3
    assert high == pytest.approx(expected)
    assert high > 0.02


def test_average_interval_is_the_normal_one_for_symmetric_inputs() -> None:
    # Symmetric intervals: MOVER is the normal interval of the average of independent
    # estimates (standard errors add in quadrature, divided by k).
    mean, low, high = average_interval([(0.4, 0.3, 0.5), (0.6, 0.55, 0.65)])
    assert mean == pytest.approx(0.5)
    assert high - mean == pytest.approx(math.sqrt(0.1**2 + 0.05**2) / 2)
    assert mean - low == pytest.approx(high - mean)


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


@pytest.mark.parametrize("call", [two_proportion_p_value, fisher_exact_p_value, change_p_value])
def test_comparisons_reject_empty_or_invalid_samples(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="at least one trial"):
        call(0, 0, 1, 10)
    with pytest.raises(ValueError, match="successes must lie"):
        call(11, 10, 1, 10)


def test_change_p_value_uses_fisher_for_small_counts() -> None:
    # 0/10 versus 4/10: the z test would call this significant (p = 0.025) but the
    # expected count of successes is 2, so Fisher decides (p = 0.087).
    assert two_proportion_p_value(0, 10, 4, 10) < 0.05
    assert fisher_exact_p_value(0, 10, 4, 10) > 0.05
    assert change_p_value(0, 10, 4, 10) == fisher_exact_p_value(0, 10, 4, 10)


def test_change_p_value_on_large_samples() -> None:
    assert change_p_value(300, 1000, 360, 1000) < 0.05
    assert change_p_value(300, 1000, 310, 1000) > 0.05
    assert change_p_value(300, 1000, 310, 1000) == two_proportion_p_value(300, 1000, 310, 1000)


@given(counts(max_n=400), counts(max_n=400), st.sampled_from([0.01, 0.05, 0.1]))
def test_change_p_value_picks_the_test_by_expected_counts(
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
    assert (change_p_value(x1, n1, x2, n2) < alpha) == (float(p_value) < alpha)


# --- low-temperature warning -----------------------------------------------------------


def test_the_warning_names_only_the_providers_that_sample_below_0_7() -> None:
    assert temperature_warning({"anthropic:claude-sonnet-4-5": 1.0}) is None
    assert temperature_warning({"openai:o3": None}) is None
    warning = temperature_warning({"openai:gpt-4o-mini": 0.2, "anthropic:claude-sonnet-4-5": 1.0})
    assert warning is not None
    assert warning.startswith("openai:gpt-4o-mini (temperature 0.2) samples below 0.7")
    assert "anthropic" not in warning and "too narrow" in warning


def test_the_temperature_used_comes_from_the_batch_else_the_capabilities_table() -> None:
    # Anthropic, reasoning and search-preview models take no temperature: they sample
    # at their default 1.0 whatever was asked, so 0.2 warns about none of them.
    used = temperatures_used(
        ["anthropic:claude-sonnet-4-5", "openai:o3-mini", "openai:gpt-4o-mini"], 0.2
    )
    assert used == {
        "anthropic:claude-sonnet-4-5": 1.0,
        "openai:o3-mini": 1.0,
        "openai:gpt-4o-mini": 0.2,
    }
    assert temperature_warning(temperatures_used(["anthropic:claude-sonnet-4-5"], 0.2)) is None
    assert temperature_warning(temperatures_used(["openai:gpt-4o-mini"], 0.2)) is not None

    # What a batch recorded once it answered wins over the table.
    batch = BatchRun(
        provider="openai",
        model="gpt-4o-mini",
        parameters={"temperature": None, "temperature_used": 1.0},
    )
    assert temperatures_used(["openai:gpt-4o-mini"], 0.2, [batch]) == {"openai:gpt-4o-mini": 1.0}
