"""Interval estimates and significance tests behind every number Echo AI shows.

Answers sampled at temperature 1.0 are a Monte Carlo sample, so each metric is an
estimate; these functions give it an honest uncertainty and decide whether two runs
really differ. Only the standard library and numpy are used at runtime (scipy and
statsmodels serve as independent references in the tests).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

# Relative tolerance when comparing hypergeometric probabilities in Fisher's test:
# tables that are mathematically equally likely must count as "as extreme" even when
# floating point makes their probabilities differ in the last bits (R uses the same).
_FISHER_RELATIVE_TOLERANCE = 1e-7

# A multinomial draw costs about eight uniform index draws per category, so it pays off
# once the distinct (numerator, denominator) pairs are fewer than n / 8.
_MULTINOMIAL_COST_RATIO = 8

# Index-sampling bootstrap works on blocks of at most this many drawn items at once.
_BOOTSTRAP_BLOCK_CELLS = 2_000_000

# Work on blocks of at most this many pair similarities at once, so that thousands of
# distinct sets never materialise a huge matrix.
_JACCARD_BLOCK_CELLS = 2_000_000


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _check_count(successes: int, n: int) -> None:
    if n < 0:
        raise ValueError(f"sample size must be non-negative, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, {n}], got {successes}")


def _z_critical(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _wilson(p: float, n: int, confidence: float) -> tuple[float, float]:
    """Centre and half-width of the Wilson score interval of an observed proportion
    ``p`` of ``n`` trials (unclamped; inputs already checked)."""
    z = _z_critical(confidence)
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half_width = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    return centre, half_width


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Wilson rather than the textbook normal interval because it stays inside [0, 1] and
    keeps its coverage at 0/n and n/n, which are common here (a brand never or always
    named). The bounds are clamped so that 0/n starts exactly at 0, n/n ends exactly at
    1, and the interval always contains the observed proportion despite rounding.
    """
    _check_confidence(confidence)
    _check_count(successes, n)
    if n == 0:
        raise ValueError("the Wilson interval needs at least one trial")
    p = successes / n
    centre, half_width = _wilson(p, n, confidence)
    low = 0.0 if successes == 0 else min(max(0.0, centre - half_width), p)
    high = 1.0 if successes == n else max(min(1.0, centre + half_width), p)
    return low, high


def wilson_half_width(n: int, *, proportion: float = 0.5, confidence: float = 0.95) -> float:
    """Half the width of the Wilson interval a sample of ``n`` gives when the observed
    proportion is ``proportion`` (0.5, the widest, by default): the precision ``n``
    iterations buy before any answer is seen ("±7 points at 50%"). Unclamped, so it is
    exactly what :func:`wilson_interval` gives whenever ``proportion * n`` is a count
    away from 0 and ``n``."""
    _check_confidence(confidence)
    if n < 1:
        raise ValueError(f"the Wilson interval needs at least one trial, got {n}")
    if not 0.0 <= proportion <= 1.0:
        raise ValueError(f"proportion must lie in [0, 1], got {proportion}")
    return _wilson(proportion, n, confidence)[1]


def bootstrap_ratio_interval(
    numerators: Sequence[int],
    denominators: Sequence[int],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    block_cells: int = _BOOTSTRAP_BLOCK_CELLS,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``sum(numerators) / sum(denominators)``.

    Iterations, not mentions, are resampled because mentions inside one answer are not
    independent. Resampling n items with replacement is the same as drawing how often
    each distinct (numerator, denominator) pair is picked from a multinomial, so with
    few distinct pairs (a handful for share of voice) the cost does not grow with n;
    the result never depends on the order of the inputs. Resamples whose denominator
    is 0 have no ratio and are dropped. The bounds are widened to include the point
    estimate if the percentile interval misses it (tiny, very skewed samples), so
    displays never show a value outside its interval.

    ``block_cells`` bounds the memory of index sampling (items drawn per block); the
    result does not depend on it.

    Returns None when there is no data or the total denominator is 0.
    """
    if len(numerators) != len(denominators):
        raise ValueError("numerators and denominators must have the same length")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    _check_confidence(confidence)
    n = len(numerators)
    if n == 0:
        return None
    pairs = np.column_stack(
        (np.asarray(numerators, dtype=np.int64), np.asarray(denominators, dtype=np.int64))
    )
    if bool((pairs < 0).any()):
        raise ValueError("numerators and denominators must be non-negative")
    total_denominator = int(pairs[:, 1].sum())
    if total_denominator == 0:
        return None
    point = int(pairs[:, 0].sum()) / total_denominator

    resampled_numerators, resampled_denominators = _resample_sums(
        pairs, resamples, seed, block_cells
    )
    usable = resampled_denominators > 0
    if not bool(usable.any()):
        return point, point
    ratios = resampled_numerators[usable] / resampled_denominators[usable]
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return min(float(low), point), max(float(high), point)


def _resample_sums(
    pairs: NDArray[np.int64], resamples: int, seed: int, block_cells: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Column sums of ``resamples`` bootstrap resamples of the rows of ``pairs``.

    Few distinct rows (the usual case): one multinomial draw of how often each is
    picked, independent of n. Many distinct rows: plain index sampling, cheaper per
    draw, in blocks to bound memory. Both work on the sorted multiset of rows, so the
    order of the input never changes the result.
    """
    n = len(pairs)
    distinct, counts = np.unique(pairs, axis=0, return_counts=True)
    rng = np.random.default_rng(seed)
    if len(distinct) * _MULTINOMIAL_COST_RATIO <= n:
        draws = rng.multinomial(n, counts / n, size=resamples)
        return draws @ distinct[:, 0], draws @ distinct[:, 1]
    ordered = np.repeat(distinct, counts, axis=0)
    numerators = np.empty(resamples, dtype=np.int64)
    denominators = np.empty(resamples, dtype=np.int64)
    block = max(1, block_cells // n)
    for start in range(0, resamples, block):
        stop = min(start + block, resamples)
        picks = ordered[rng.integers(0, n, size=(stop - start, n))]
        numerators[start:stop] = picks[:, :, 0].sum(axis=1)
        denominators[start:stop] = picks[:, :, 1].sum(axis=1)
    return numerators, denominators


def mean_pairwise_jaccard(
    sets: Sequence[frozenset[str]], *, block_cells: int = _JACCARD_BLOCK_CELLS
) -> float | None:
    """Mean Jaccard similarity over all unordered pairs of the given sets.

    Two empty sets count as identical (similarity 1.0): two answers that both name no
    tracked brand agree with each other. Identical sets are grouped and the remaining
    distinct sets compared with matrix products in bounded blocks, so thousands of
    answers cost milliseconds rather than millions of Python set operations
    (``block_cells`` similarities at most per block; the result does not depend on it).

    Returns None for fewer than two sets: a single answer has no pair to compare.
    """
    n = len(sets)
    if n < 2:
        return None
    groups = Counter(sets)
    if len(groups) == 1:
        return 1.0
    universe = sorted(frozenset().union(*groups))
    column = {item: index for index, item in enumerate(universe)}
    members = np.zeros((len(groups), len(universe)), dtype=np.float64)
    for row, group in enumerate(groups):
        members[row, [column[item] for item in group]] = 1.0
    weights = np.fromiter(groups.values(), dtype=np.float64, count=len(groups))
    sizes = members.sum(axis=1)

    # weighted_sum counts every ordered pair of answers, including each answer with
    # itself (similarity 1), so it equals n + 2 * (sum over unordered distinct pairs).
    weighted_sum = 0.0
    block = max(1, block_cells // len(groups))
    for start in range(0, len(groups), block):
        stop = start + block
        intersections = members[start:stop] @ members.T
        unions = sizes[start:stop, None] + sizes[None, :] - intersections
        similarity = np.divide(
            intersections, unions, out=np.ones_like(intersections), where=unions > 0
        )
        weighted_sum += float(weights[start:stop] @ similarity @ weights)
    mean = (weighted_sum - n) / (n * (n - 1))
    return min(1.0, max(0.0, mean))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (q in [0, 100]) with linear interpolation, as numpy's default.

    Pure Python because it is applied to small lists (latencies of one batch) where
    converting to an array would cost more than sorting. Returns None for no values.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must lie in [0, 100], got {q}")
    if not values:
        return None
    if any(math.isnan(value) for value in values):
        raise ValueError("values must not contain NaN")
    ordered = sorted(values)
    position = (q / 100.0) * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    low, high = float(ordered[below]), float(ordered[above])
    # Interpolate from the nearer end, as numpy does, so the result is exact at the ends.
    if fraction >= 0.5:
        return high - (high - low) * (1.0 - fraction)
    return low + (high - low) * fraction


def _check_two_samples(x1: int, n1: int, x2: int, n2: int) -> None:
    _check_count(x1, n1)
    _check_count(x2, n2)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one trial to be compared")


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z test (x1/n1 versus x2/n2).

    When both samples are all failures or all successes there is no variance and no
    evidence of a difference, so the p-value is 1.
    """
    _check_two_samples(x1, n1, x2, n2)
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if variance <= 0.0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    # erfc keeps precision in the far tail where 1 - cdf would round to 0.
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test on the table [[x1, n1-x1], [x2, n2-x2]].

    With both margins fixed, x1 follows a hypergeometric distribution; the p-value sums
    the probabilities of every table no more likely than the observed one (the
    "minimum likelihood" definition used by R and scipy). Computed in log space so
    samples of tens of thousands neither overflow nor underflow.
    """
    _check_two_samples(x1, n1, x2, n2)
    total = n1 + n2
    successes = x1 + x2
    lowest = max(0, successes - n2)
    highest = min(successes, n1)
    log_norm = _log_comb(total, n1)
    log_pmf = [
        _log_comb(successes, k) + _log_comb(total - successes, n1 - k) - log_norm
        for k in range(lowest, highest + 1)
    ]
    threshold = log_pmf[x1 - lowest] + math.log1p(_FISHER_RELATIVE_TOLERANCE)
    p_value = math.fsum(math.exp(value) for value in log_pmf if value <= threshold)
    return min(1.0, p_value)


def change_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of "x1/n1 and x2/n2 are the same rate".

    Fisher's exact test when any expected cell count is below 5, where the normal
    approximation of the z test is unreliable; the z test otherwise, where it is
    accurate and Fisher's discreteness only makes it conservative.
    """
    _check_two_samples(x1, n1, x2, n2)
    total = n1 + n2
    successes = x1 + x2
    failures = total - successes
    smallest_expected = min(n1, n2) * min(successes, failures) / total
    if smallest_expected < 5.0:
        return fisher_exact_p_value(x1, n1, x2, n2)
    return two_proportion_p_value(x1, n1, x2, n2)


def significant_change(x1: int, n1: int, x2: int, n2: int, *, alpha: float = 0.05) -> bool:
    """Whether x1/n1 and x2/n2 differ at level alpha (two-sided, :func:`change_p_value`)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    return change_p_value(x1, n1, x2, n2) < alpha
