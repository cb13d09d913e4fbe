"""Pooled rates over many prompts, with intervals that treat each prompt as a cluster.

A tracker asks many prompts; the answers to one prompt share that prompt's own rate (one
question names the brand 80% of the time, another 5%), so they are correlated. Pooling
every answer into one binomial count and taking its Wilson interval pretends there are
``sum(n)`` independent answers when the real uncertainty about "how visible is the brand
over questions like these" comes mostly from how few prompts there are. The intervals
here resample (or model) prompts, not answers.

Two estimators of the same pooled rate ``sum(x) / sum(n)`` are offered:

* :func:`cluster_t_interval`: the ratio estimator with its cluster-robust (linearised,
  CR1) standard error and a Student t critical value on ``k - 1`` degrees of freedom;
* :func:`cluster_bootstrap_interval`: the percentile bootstrap over prompts (vectorised,
  seeded), which under-covers when there are few prompts.

:func:`pooled_rate` is what the product shows: the t interval, chosen by simulation
(docs/metrics.md, tests/analysis/test_clusters.py) because it keeps its coverage down to
a handful of prompts where the percentile bootstrap does not. Either interval is widened
to at least the naive Wilson interval of the pooled counts: between-prompt spread can
only add uncertainty, and when every prompt happens to show the same rate (all 0%) the
cluster variance is zero although the answers still carry binomial noise.

With one prompt there is no interval over prompts at all; the estimate is given with a
note instead. Only the standard library and numpy are used.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from echo_ai.analysis.statistics import wilson_interval

BOOTSTRAP_RESAMPLES = 2_000
FEW_CLUSTERS = 10
"""Below this many prompts the interval leans on a t distribution with few degrees of
freedom: it stays honest but is wide, and a note says so."""

ONE_CLUSTER_NOTE = (
    "one prompt: no interval over prompts can be computed (answers to one prompt are "
    "correlated); add prompts or read that prompt's own figures"
)
FEW_CLUSTERS_NOTE = "fewer than {few} prompts: the interval over prompts is wide and approximate"


@dataclass(frozen=True)
class PooledRate:
    """A rate pooled over prompts: ``numerator / denominator`` with its 95% interval over
    prompts as clusters (``low``/``high`` None when it cannot be computed, ``note`` says
    why or warns)."""

    numerator: int
    denominator: int
    clusters: int
    estimate: float | None
    low: float | None
    high: float | None
    method: str
    note: str | None


def _arrays(
    numerators: Sequence[int], denominators: Sequence[int]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if len(numerators) != len(denominators):
        raise ValueError("numerators and denominators must have the same length")
    x = np.asarray(numerators, dtype=np.float64)
    n = np.asarray(denominators, dtype=np.float64)
    if np.any(n < 0) or np.any(x < 0) or np.any(x > n):
        raise ValueError("each numerator must lie in [0, its denominator]")
    keep = n > 0
    return x[keep], n[keep]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Lentz's continued fraction for the regularised incomplete beta function."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-14:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student t distribution function (df > 0)."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    tail = 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=4_096)
def t_quantile(probability: float, df: float) -> float:
    """Inverse of :func:`t_cdf` by bisection (accurate to ~1e-10). Kept per (probability,
    df): each bisection step evaluates a continued fraction, which takes milliseconds a
    call, and a tracker's page pools dozens of groups of the same number of prompts at
    the same confidence."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must lie strictly between 0 and 1, got {probability}")
    if probability < 0.5:
        return -t_quantile(1.0 - probability, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < probability:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if t_cdf(mid, df) < probability:
            low = mid
        else:
            high = mid
        if high - low < 1e-12:
            break
    return (low + high) / 2.0


def cluster_t_interval(
    numerators: Sequence[int], denominators: Sequence[int], *, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Cluster-robust interval of the pooled rate ``sum(x) / sum(n)``: the ratio
    estimator's linearised variance ``k / (k - 1) * sum((x_i - r n_i)^2) / (sum n)^2``
    with a t critical value on ``k - 1`` degrees of freedom, clamped to [0, 1]. None with
    fewer than two prompts that have answers."""
    _check_confidence(confidence)
    x, n = _arrays(numerators, denominators)
    k = len(n)
    if k < 2:
        return None
    total = float(n.sum())
    rate = float(x.sum()) / total
    residuals = x - rate * n
    variance = k / (k - 1) * float(np.square(residuals).sum()) / (total * total)
    half = t_quantile(0.5 + confidence / 2.0, k - 1) * math.sqrt(variance)
    return max(0.0, rate - half), min(1.0, rate + half)


def cluster_bootstrap_interval(
    numerators: Sequence[int],
    denominators: Sequence[int],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap of the pooled rate, resampling prompts with replacement (all
    resamples at once as a ``resamples x k`` index matrix). None with fewer than two
    prompts that have answers."""
    _check_confidence(confidence)
    x, n = _arrays(numerators, denominators)
    k = len(n)
    if k < 2:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, k, size=(resamples, k))
    rates = x[picks].sum(axis=1) / n[picks].sum(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(rates, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def naive_interval(
    numerators: Sequence[int], denominators: Sequence[int], *, confidence: float = 0.95
) -> tuple[float, float] | None:
    """The Wilson interval of the pooled counts as if every answer were independent:
    what not to show, kept to measure how far it under-covers."""
    x, n = _arrays(numerators, denominators)
    total = int(n.sum())
    if total == 0:
        return None
    return wilson_interval(int(x.sum()), total, confidence=confidence)


def pooled_rate(
    numerators: Sequence[int], denominators: Sequence[int], *, confidence: float = 0.95
) -> PooledRate:
    """The rate pooled over prompts with the interval the product shows (see the module
    docstring); prompts with no answers are left out."""
    x, n = _arrays(numerators, denominators)
    k = len(n)
    numerator, denominator = int(x.sum()), int(n.sum())
    if k == 0:
        return PooledRate(0, 0, 0, None, None, None, "none", "no answers yet")
    estimate = numerator / denominator
    if k == 1:
        return PooledRate(numerator, denominator, 1, estimate, None, None, "none", ONE_CLUSTER_NOTE)
    t_bounds = cluster_t_interval(numerators, denominators, confidence=confidence)
    assert t_bounds is not None
    wilson_low, wilson_high = wilson_interval(numerator, denominator, confidence=confidence)
    low = min(t_bounds[0], wilson_low, estimate)
    high = max(t_bounds[1], wilson_high, estimate)
    note = FEW_CLUSTERS_NOTE.format(few=FEW_CLUSTERS) if k < FEW_CLUSTERS else None
    return PooledRate(numerator, denominator, k, estimate, low, high, "cluster-t", note)
