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

# Work on blocks of at most this many pair similarities at once, so that thousands of
# distinct sets never materialise a huge matrix.
_JACCARD_BLOCK_CELLS = 2_000_000


INDEPENDENT_TEMPERATURE = 0.7
"""Below this sampling temperature answers repeat often enough that the intervals, which
treat answers as independent samples, come out too narrow: users are warned."""


def temperature_warning(temperature: float) -> str | None:
    """The warning a user sees when an experiment samples below
    :data:`INDEPENDENT_TEMPERATURE` (None at or above it)."""
    if temperature >= INDEPENDENT_TEMPERATURE:
        return None
    return (
        f"Temperature {temperature:g} is below {INDEPENDENT_TEMPERATURE:g}: answers repeat, "
        "and the intervals, which assume independent answers, are too narrow."
    )


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


def share_interval(
    target_per_answer: Sequence[int],
    mentions_per_answer: Sequence[int],
    *,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """Score interval of a share of voice ``sum(target) / sum(mentions)`` over answers.

    ``target_per_answer`` is 1 when the answer names the target (0 otherwise) and
    ``mentions_per_answer`` the tracked brands it names, target included. Answers, not
    mentions, are the independent units (one answer's mentions are not independent), so
    the interval is a score interval on the answer totals (see :func:`share_score_interval`);
    one pass over the data, O(n). Returns None without data or without any mention.
    """
    if len(target_per_answer) != len(mentions_per_answer):
        raise ValueError("target and mention counts must have the same length")
    _check_confidence(confidence)
    n = len(target_per_answer)
    if n == 0:
        return None
    target = np.asarray(target_per_answer, dtype=np.int64)
    mentions = np.asarray(mentions_per_answer, dtype=np.int64)
    if bool(((target != 0) & (target != 1)).any()):
        raise ValueError("the target is named at most once per answer (0 or 1)")
    others = mentions - target
    if bool((others < 0).any()):
        raise ValueError("an answer naming the target names at least one brand")
    if int(mentions.sum()) == 0:
        return None
    low, high = share_score_interval(
        np.array([n]),
        np.array([int(target.sum())]),
        np.array([int(others.sum())]),
        np.array([int((others * others).sum())]),
        np.array([int((target * others).sum())]),
        confidence=confidence,
    )
    return float(low[0]), float(high[0])


def share_score_interval(
    answers: NDArray[np.int64],
    named: NDArray[np.int64],
    others: NDArray[np.int64],
    others_squared: NDArray[np.int64],
    named_others: NDArray[np.int64],
    *,
    confidence: float = 0.95,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Score intervals of shares of voice from per-sample totals (vectorised over samples).

    Per sample: ``answers`` (n), ``named`` (answers naming the target, X), ``others``
    (mentions of the other brands, K), ``others_squared`` (sum of each answer's K squared)
    and ``named_others`` (sum of K over answers naming the target). Every sample needs at
    least one mention (X + K > 0).

    The share r = X / (X + K) solves sum_i (T_i - r B_i) = 0, with T_i the target
    indicator and B_i = T_i + K_i an answer's mentions. The interval keeps every r whose
    score (X - r (X + K))^2 stays within z^2 n Var(T - r B), the variance taken *under
    r* for the target, the way Wilson's interval takes p (1 - p) under p: the target's
    rate r implies given the competitors' mean k (p0 = r k / (1 - r)) has variance
    p0 (1 - p0); the competitors' variance and covariance are the sample's. So 0 of n
    keeps an upper bound above 0 where a bootstrap collapses to [0, 0], and when every
    answer names the same number of competitors this is exactly Wilson's interval for the
    target's rate, mapped to the share. The score is a quadratic in r on each side of
    r* = 1 / (1 + k) (beyond it p0 > 1: no target variance left), so the bounds are
    closed-form roots. When no competitor was ever named (K = 0, share 1), the lower
    bound takes the competitors' rate at its Wilson upper bound for 0 of n.
    """
    _check_confidence(confidence)
    z2 = _z_critical(confidence) ** 2
    n = answers.astype(np.float64)
    x = named.astype(np.float64)
    k = others.astype(np.float64)
    total = x + k
    if bool((total <= 0).any()):
        raise ValueError("every sample needs at least one mention")
    p_hat = x / n
    k_mean = k / n
    var_others = np.maximum(others_squared / n - k_mean * k_mean, 0.0)
    covariance = named_others / n - p_hat * k_mean
    point = x / total
    z2n = z2 * n
    # (X - r (X + K))^2 - z^2 n Var(r) = a r^2 + b r + c on each side of r*.
    a_outer = total * total - z2n * (var_others + 2.0 * covariance)
    b_outer = -2.0 * x * total + 2.0 * z2n * covariance
    a_inner = a_outer + z2n * k_mean * (1.0 + k_mean)
    b_inner = b_outer - z2n * k_mean
    c = x * x
    split = 1.0 / (1.0 + k_mean)

    low = _root_between(a_inner, b_inner, c, np.zeros_like(point), point)
    low = np.where(x == 0, 0.0, low)
    at_split = (a_inner * split + b_inner) * split + c
    inner_high = _root_between(a_inner, b_inner, c, point, split)
    outer_high = _root_between(a_outer, b_outer, c, split, np.ones_like(point))
    at_one = a_outer + b_outer + c
    high = np.where(at_split > 0, inner_high, np.where(at_one <= 0, 1.0, outer_high))

    # No competitor named: the share is 1 in the sample; its lower bound puts the
    # competitors' rate at Wilson's upper bound for 0 of n.
    alone = k == 0
    others_high = z2 / (n + z2)
    low = np.where(alone, p_hat / (p_hat + others_high), low)
    high = np.where(alone, 1.0, high)
    return np.clip(np.minimum(low, point), 0.0, 1.0), np.clip(np.maximum(high, point), 0.0, 1.0)


def _root_between(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    start: NDArray[np.float64],
    stop: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The root of a r^2 + b r + c in [start, stop] (the quadratic changes sign there),
    the nearer to the interval when rounding moves both out; the stable formula avoids
    cancellation."""
    discriminant = np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0))
    q = -0.5 * (b + np.copysign(discriminant, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(a != 0, q / np.where(a != 0, a, 1.0), np.inf)
        second = np.where(q != 0, c / np.where(q != 0, q, 1.0), np.inf)
    middle = (start + stop) / 2.0
    nearer = np.where(np.abs(first - middle) <= np.abs(second - middle), first, second)
    return np.clip(nearer, start, stop)


def average_interval(
    estimates: Sequence[tuple[float, float, float]],
) -> tuple[float, float, float]:
    """Equal-weight average of independent estimates with the interval of the average.

    ``estimates`` are (value, low, high) per provider, each with its own interval (a
    Wilson or score interval). The bounds recover the variance from those intervals
    (MOVER, Zou & Donner 2008): low = mean - sqrt(sum((value - low)^2)) / k and high =
    mean + sqrt(sum((high - value)^2)) / k. Because each provider's interval already
    keeps its coverage at 0 of n and n of n, so does the average: three providers that
    never name the brand give an upper bound above 0, where a normal interval on the
    average would give [0, 0].
    """
    if not estimates:
        raise ValueError("the average needs at least one estimate")
    for value, low, high in estimates:
        if not low <= value <= high:
            raise ValueError(f"a value must lie within its interval: {value} in [{low}, {high}]")
    k = len(estimates)
    mean = math.fsum(value for value, _, _ in estimates) / k
    below = math.sqrt(math.fsum((value - low) ** 2 for value, low, _ in estimates)) / k
    above = math.sqrt(math.fsum((high - value) ** 2 for value, _, high in estimates)) / k
    return mean, max(0.0, mean - below), min(1.0, mean + above)


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
