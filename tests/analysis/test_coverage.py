"""Coverage of the intervals by simulation: the share-of-voice score interval and the
equal-weight average over providers keep their 95% at the edges (fixed seeds, numpy).

The figures of ``docs/metrics.md`` (coverage table) come from these simulations.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from echo_ai.analysis.statistics import average_interval, share_score_interval, wilson_interval
from tests.kit import untraced

SHARES = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.99)
"""True shares of voice simulated, from a rare target to one that dominates."""
RATES = (0.02, 0.1, 0.35, 0.6, 0.9)
"""How often an answer names the target (0.02 only up to a share of 0.5: above it both
sides are named less than once in 30 answers, where no interval has data to work on)."""
SIZES = (30, 100, 400)
"""Complete answers per sample."""
MOST_COMPETITORS = 8
"""An answer names 0 to this many competitors (binomially)."""
REPLICATES = 2_000


def cells() -> list[tuple[float, float]]:
    """(share, target rate) pairs whose competitors' mean fits 0-8 per answer."""
    return [
        (share, rate)
        for share in SHARES
        for rate in RATES
        if rate * (1.0 - share) / share <= 0.75 * MOST_COMPETITORS and (rate > 0.02 or share <= 0.5)
    ]


def _totals(
    rng: np.random.Generator, share: float, rate: float, n: int, scenario: str
) -> tuple[NDArray[np.int64], ...]:
    """REPLICATES samples of n answers reduced to the totals the interval needs: answers
    naming the target, competitors' mentions, their squares, and competitors' mentions
    in answers naming the target. Only the counts of answers naming 0..8 competitors
    matter, so they are drawn as multinomials (fast at any n)."""
    mean_others = rate * (1.0 - share) / share
    values = np.arange(MOST_COMPETITORS + 1)
    # In the second scenario an answer naming the target names half as many competitors
    # on average (the two move together); the rate q is set so the mean stays right.
    with_target = 1.0 if scenario == "independent" else 0.5
    q = mean_others / (MOST_COMPETITORS * (rate * with_target + 1.0 - rate))

    def spread(answers: NDArray[np.int64], probability: float) -> NDArray[np.int64]:
        pvals = np.array(
            [
                np.exp(
                    np.sum(np.log(np.arange(1, MOST_COMPETITORS + 1)))
                    - np.sum(np.log(np.arange(1, v + 1)))
                    - np.sum(np.log(np.arange(1, MOST_COMPETITORS - v + 1)))
                )
                * probability**v
                * (1.0 - probability) ** (MOST_COMPETITORS - v)
                for v in values
            ]
        )
        counts: NDArray[np.int64] = rng.multinomial(answers, pvals / pvals.sum())
        return counts

    named = rng.binomial(n, rate, size=REPLICATES)
    with_counts = spread(named, q * with_target)
    without_counts = spread(n - named, q)
    counts = with_counts + without_counts
    return (
        named.astype(np.int64),
        counts @ values,
        counts @ (values * values),
        with_counts @ values,
    )


def share_coverage(scenario: str) -> dict[tuple[float, float, int], float]:
    """Coverage per (share, rate, n) cell; every cell's samples go through one vectorised
    call, the way a dashboard computes many batches at once."""
    keys = [(share, rate, n) for share, rate in cells() for n in SIZES]
    columns = [
        _totals(np.random.default_rng(seed), share, rate, n, scenario)
        for seed, (share, rate, n) in enumerate(keys)
    ]
    x, k, k_squared, x_k = (np.concatenate(parts) for parts in zip(*columns, strict=True))
    sizes = np.repeat([n for _, _, n in keys], REPLICATES)
    truth = np.repeat([share for share, _, _ in keys], REPLICATES)
    # A sample with no mention at all shows no share (and no interval): left out.
    usable = (x + k) > 0
    low, high = share_score_interval(
        sizes[usable], x[usable], k[usable], k_squared[usable], x_k[usable]
    )
    covered = np.zeros(len(x))
    covered[usable] = (low <= truth[usable]) & (truth[usable] <= high)
    cell = np.repeat(np.arange(len(keys)), REPLICATES)
    hits = np.bincount(cell, weights=covered, minlength=len(keys))
    counts = np.bincount(cell, weights=usable.astype(np.float64), minlength=len(keys))
    return {key: float(hits[i] / counts[i]) for i, key in enumerate(keys)}


@pytest.mark.parametrize("scenario", ["independent", "fewer with the target"])
@untraced
def test_share_of_voice_interval_keeps_its_coverage_at_both_ends(scenario: str) -> None:
    table = share_coverage(scenario)
    worst = min(table, key=table.__getitem__)
    assert table[worst] >= 0.93, f"coverage {table[worst]:.3f} at share, rate, n = {worst}"
    # Not bought with absurd width: away from the edges it is close to nominal.
    assert table[(0.35, 0.35, 400)] <= 0.97
    assert table[(0.8, 0.6, 400)] <= 0.97


def test_the_old_bootstrap_edge_case_keeps_an_upper_bound() -> None:
    # 0 of 30 answers name the target (the bootstrap gave [0, 0]).
    low, high = share_score_interval(
        np.array([30]), np.array([0]), np.array([60]), np.array([120]), np.array([0])
    )
    assert low[0] == 0.0
    assert high[0] > 0.0


def test_a_dominant_target_keeps_a_lower_bound_well_below_the_point() -> None:
    # 95 of 100 answers name the target and 5 name one competitor each (share 0.95):
    # the competitors' side is rare, and its variance is taken under the candidate share
    # too, so the interval does not hug the point from below.
    low, high = share_score_interval(
        np.array([100]), np.array([95]), np.array([5]), np.array([5]), np.array([4])
    )
    point = 0.95
    assert low[0] < 0.9
    # It reaches further towards the rare side (more competitors) than away from it.
    assert point - low[0] > high[0] - point > 0.0


def average_coverage(rates: tuple[float, ...], sizes: tuple[int, ...], seed: int) -> float:
    """Coverage of the equal-weight average of per-provider rates (Wilson per provider,
    combined by MOVER)."""
    rng = np.random.default_rng(seed)
    counts = [
        rng.binomial(size, rate, size=REPLICATES) for rate, size in zip(rates, sizes, strict=True)
    ]
    truth = sum(rates) / len(rates)
    covered = 0
    for replicate in range(REPLICATES):
        estimates = []
        for size, count in zip(sizes, counts, strict=True):
            x = int(count[replicate])
            low, high = wilson_interval(x, size)
            estimates.append((x / size, low, high))
        _, low, high = average_interval(estimates)
        covered += low <= truth <= high
    return covered / REPLICATES


@pytest.mark.parametrize(
    ("rates", "sizes"),
    [
        ((0.0, 0.0, 0.02), (30, 30, 30)),
        ((0.02, 0.05, 0.1), (30, 60, 100)),
        ((0.1, 0.3, 0.5), (30, 100, 400)),
        ((0.5, 0.5), (30, 30)),
        ((0.9, 0.98, 1.0), (60, 60, 60)),
    ],
)
@untraced
def test_equal_weight_average_keeps_its_coverage(
    rates: tuple[float, ...], sizes: tuple[int, ...]
) -> None:
    assert average_coverage(rates, sizes, seed=len(rates) * 7 + sizes[0]) >= 0.93
