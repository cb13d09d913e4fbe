"""Coverage of the intervals by simulation: the share-of-voice score interval and the
equal-weight average over providers keep their 95% at the edges (fixed seeds, numpy).

The figures of ``docs/metrics.md`` (coverage table) come from these simulations.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from echo_ai.analysis.statistics import average_interval, share_score_interval, wilson_interval

RATES = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5)
"""How often an answer names the target."""
SIZES = (30, 60, 100, 200, 400)
"""Complete answers per sample."""
REPLICATES = 2_000


def _samples(
    rng: np.random.Generator, rate: float, n: int, scenario: str
) -> tuple[NDArray[np.int64], NDArray[np.int64], float]:
    """REPLICATES samples of n answers: the target indicator, the competitors named per
    answer, and the true share of voice E[T] / E[T + K]."""
    named = (rng.random((REPLICATES, n)) < rate).astype(np.int64)
    if scenario == "independent":
        # 0 to 4 competitors, whatever the target.
        others = rng.integers(0, 5, size=(REPLICATES, n))
        mean_others = 2.0
    else:
        # An answer naming the target names fewer competitors (a real ratio, correlated).
        others = rng.binomial(4, np.where(named == 1, 0.25, 0.5))
        mean_others = rate * 1.0 + (1.0 - rate) * 2.0
    return named, others.astype(np.int64), rate / (rate + mean_others)


def share_coverage(rate: float, n: int, scenario: str, seed: int) -> float:
    rng = np.random.default_rng(seed)
    named, others, truth = _samples(rng, rate, n, scenario)
    x = named.sum(axis=1)
    k = others.sum(axis=1)
    usable = (x + k) > 0
    low, high = share_score_interval(
        np.full(int(usable.sum()), n),
        x[usable],
        k[usable],
        (others * others).sum(axis=1)[usable],
        (named * others).sum(axis=1)[usable],
    )
    return float(((low <= truth) & (truth <= high)).mean())


@pytest.mark.parametrize("scenario", ["independent", "fewer with the target"])
def test_share_of_voice_interval_keeps_its_coverage_at_the_edges(scenario: str) -> None:
    table = {
        (rate, n): share_coverage(rate, n, scenario, seed=index)
        for index, (rate, n) in enumerate((rate, n) for rate in RATES for n in SIZES)
    }
    worst = min(table, key=table.__getitem__)
    assert table[worst] >= 0.93, f"coverage {table[worst]:.3f} at rate, n = {worst}"
    # Not bought with absurd width: away from the edge it is close to nominal.
    assert table[(0.5, 400)] <= 0.97


def test_the_old_bootstrap_edge_case_keeps_an_upper_bound() -> None:
    # 0 of 30 answers name the target (the bootstrap gave [0, 0]).
    low, high = share_score_interval(
        np.array([30]), np.array([0]), np.array([60]), np.array([120]), np.array([0])
    )
    assert low[0] == 0.0
    assert high[0] > 0.0


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
def test_equal_weight_average_keeps_its_coverage(
    rates: tuple[float, ...], sizes: tuple[int, ...]
) -> None:
    assert average_coverage(rates, sizes, seed=len(rates) * 7 + sizes[0]) >= 0.93
