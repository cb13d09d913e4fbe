"""Interval estimates and significance tests behind every number Echo AI shows.

Answers sampled at temperature 1.0 are a Monte Carlo sample, so each metric is an
estimate; these functions give it an honest uncertainty and decide whether two runs
really differ. Only the standard library and numpy are used at runtime (scipy and
statsmodels serve as independent references in the tests).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


def temperature_warning(used: Mapping[str, float | None]) -> str | None:
    """The warning a user sees when some providers sample below
    :data:`INDEPENDENT_TEMPERATURE` (None when none does). ``used`` maps each provider
    (``vendor:model``) to the temperature it actually samples at (None: unknown), which
    is not always the one asked: some models take none and sample at their default."""
    low = {name: t for name, t in sorted(used.items()) if t is not None}
    low = {name: t for name, t in low.items() if t < INDEPENDENT_TEMPERATURE}
    if not low:
        return None
    named = ", ".join(f"{name} (temperature {t:g})" for name, t in low.items())
    return (
        f"{named} {'samples' if len(low) == 1 else 'sample'} below "
        f"{INDEPENDENT_TEMPERATURE:g}: answers repeat, and the intervals, which assume "
        "independent answers, are too narrow."
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


def wilson_half_widths(
    successes: NDArray[np.int64], n: int, *, confidence: float = 0.95
) -> NDArray[np.float64]:
    """:func:`wilson_half_width` of many observed counts of one sample size ``n`` at once
    (adaptive sampling asks it of thousands of simulated runs per round)."""
    _check_confidence(confidence)
    if n < 1:
        raise ValueError(f"the Wilson interval needs at least one trial, got {n}")
    p = np.asarray(successes, dtype=np.float64) / n
    z = _z_critical(confidence)
    z2 = z * z
    widths: NDArray[np.float64] = (
        z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / (1.0 + z2 / n)
    )
    return widths


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
    score (X - r (X + K))^2 stays within z^2 n Var_r(T - r B), the variance taken *under
    r* for both sides, the way Wilson's interval takes p (1 - p) under p. Under r the
    target's rate p and the competitors' mean m are tied (m = p (1 - r) / r); they are
    the restricted quasi-likelihood estimates (target a yes/no, competitors a count whose
    variance is the sample's dispersion phi = s^2 / k times its mean), a closed form,
    see :func:`_restricted_means`. The target's variance is then p (1 - p) and the
    competitors' phi m: neither collapses when its side is rare in the sample, so
    coverage holds when the target is rare (0 of n keeps an upper bound above 0) and
    when it dominates (a few competitor mentions keep a lower bound well below 1). The
    correlation between the target and the competitors is the sample's. When every
    answer names the same number of competitors (phi = 0) this is exactly Wilson's
    interval for the target's rate, mapped to the share. When no competitor was ever
    named (K = 0, share 1), the lower bound takes the competitors' rate at its Wilson
    upper bound for 0 of n.

    The score is not a polynomial in r, so each bound is found on a fixed grid and then
    refined by bisection: constant work per sample, vectorised over samples.
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
    var_target = p_hat * (1.0 - p_hat)
    var_others = np.maximum(others_squared / n - k_mean * k_mean, 0.0)
    covariance = named_others / n - p_hat * k_mean
    # The competitors' dispersion from the unbiased variance (n - 1): at 30 answers the
    # plug-in one is 3% short, which shows as coverage short of 95%.
    unbiased = var_others * n / np.maximum(n - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = np.where(k_mean > 0, unbiased / np.where(k_mean > 0, k_mean, 1.0), 1.0)
        spread = np.sqrt(var_target * var_others)
        correlation = np.where(spread > 0, covariance / np.where(spread > 0, spread, 1.0), 0.0)
    correlation = np.clip(correlation, -1.0, 1.0)
    point = x / total
    stats = _ShareTotals(
        p_hat=p_hat,
        k_mean=k_mean,
        mentions=total / n,
        dispersion=dispersion,
        correlation=correlation,
        z2_over_n=z2 / n,
    )
    low = _outer_root(stats, point, np.zeros_like(point))
    high = _outer_root(stats, point, np.ones_like(point))
    low = np.where(x == 0, 0.0, low)

    # A score interval, Wilson's included, dips in coverage when the rarer side was seen
    # only 1 to 3 times (Brown, Cai & DasGupta 2001): there the bound towards that side
    # also admits the side's one-sided Poisson bound for such a count, kept if wider.
    alpha = 1.0 - confidence
    rare_target = _poisson_lower(named, alpha) / n
    rare_others = _poisson_lower(others, alpha) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        few_low = np.where(x <= _FEW, rare_target / (rare_target + k_mean), 1.0)
        few_high = np.where(k <= _FEW, p_hat / (p_hat + rare_others), 0.0)
    low = np.minimum(low, np.nan_to_num(few_low, nan=1.0))
    high = np.maximum(high, np.nan_to_num(few_high, nan=0.0))

    # No competitor named: the share is 1 in the sample; its lower bound puts the
    # competitors' rate at Wilson's upper bound for 0 of n.
    alone = k == 0
    others_high = z2 / (n + z2)
    low = np.where(alone, p_hat / (p_hat + others_high), low)
    high = np.where(alone, 1.0, high)
    return np.clip(np.minimum(low, point), 0.0, 1.0), np.clip(np.maximum(high, point), 0.0, 1.0)


@dataclass(frozen=True)
class _ShareTotals:
    """Per-sample summaries the share score needs (arrays of one value per sample)."""

    p_hat: NDArray[np.float64]
    k_mean: NDArray[np.float64]
    mentions: NDArray[np.float64]
    dispersion: NDArray[np.float64]
    correlation: NDArray[np.float64]
    z2_over_n: NDArray[np.float64]

    def column(self, name: str) -> NDArray[np.float64]:
        """A summary as a column, to broadcast against a grid of candidate shares."""
        values: NDArray[np.float64] = getattr(self, name)
        return values[:, None]


# Counts of at most this many on the rarer side get the one-sided Poisson bound as well.
_FEW = 3


def _poisson_lower(counts: NDArray[np.int64], alpha: float) -> NDArray[np.float64]:
    """Lower one-sided Poisson bound of level alpha / 2 for counts 1 to :data:`_FEW`: the
    mean lambda with P(count or more | lambda) = alpha / 2 (bisection; 0 elsewhere)."""
    c = counts.astype(np.float64)
    low = np.zeros_like(c)
    high = np.full_like(c, 2.0 * _FEW + 10.0)
    for _ in range(_SHARE_BISECTIONS):
        middle = (low + high) / 2.0
        below = np.zeros_like(c)
        term = np.exp(-middle)
        for j in range(_FEW):
            below += np.where(j < c, term, 0.0)
            term = term * middle / (j + 1)
        # P(X >= count) = 1 - P(X < count), increasing in lambda.
        too_low = 1.0 - below < alpha / 2.0
        low = np.where(too_low, middle, low)
        high = np.where(too_low, high, middle)
    return np.where((c >= 1) & (c <= _FEW), low, 0.0)


# Candidate shares examined per side before bisection, and bisection steps (2^-36 of
# the side's width is far below any shown digit).
_SHARE_GRID = 16
_SHARE_BISECTIONS = 36


def _restricted_means(
    stats: _ShareTotals, r: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The target's rate p and the competitors' mean m closest to the sample under share
    r (m = p (1 - r) / r): the restricted quasi-likelihood estimates with the target a
    yes/no and the competitors a count of variance phi m. Setting the quasi-score to zero
    gives (1 - r) p^2 - p (r (phi + k) + 1 - r) + r (phi p_hat + k) = 0, whose smaller
    root lies in [0, 1]; with phi = 0 it is min(r k / (1 - r), 1), Wilson's parameter."""
    k = stats.column("k_mean")
    phi = stats.column("dispersion")
    p_hat = stats.column("p_hat")
    linear = r * (phi + k) + 1.0 - r
    constant = phi * p_hat + k
    root = np.sqrt(np.maximum(linear * linear - 4.0 * (1.0 - r) * r * constant, 0.0))
    denominator = linear + root
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(denominator > 0, 2.0 / np.where(denominator > 0, denominator, 1.0), 0.0)
    # Stable forms of the smaller root and of m = p (1 - r) / r (no division by r).
    return np.minimum(scale * r * constant, 1.0), scale * (1.0 - r) * constant


def _share_score(stats: _ShareTotals, r: NDArray[np.float64]) -> NDArray[np.float64]:
    """(p_hat - r b)^2 - z^2 / n * Var_r(T - r B) per answer: <= 0 where r is kept."""
    p, m = _restricted_means(stats, r)
    var_target = p * (1.0 - p)
    var_others = stats.column("dispersion") * m
    covariance = stats.column("correlation") * np.sqrt(var_target * var_others)
    variance = (1.0 - r) ** 2 * var_target - 2.0 * r * (1.0 - r) * covariance
    variance = variance + r * r * var_others
    gap = stats.column("p_hat") - r * stats.column("mentions")
    return gap * gap - stats.column("z2_over_n") * variance


def _outer_root(
    stats: _ShareTotals, point: NDArray[np.float64], end: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The kept share farthest from ``point`` towards ``end`` (0 or 1): the grid finds
    the last kept candidate and the first rejected one beyond it, bisection the bound
    between them."""
    steps = np.linspace(0.0, 1.0, _SHARE_GRID + 1)
    grid = point[:, None] + (end - point)[:, None] * steps[None, :]
    kept = _share_score(stats, grid) <= 0.0
    kept[:, 0] = True  # the point itself, whatever rounding says
    last = _SHARE_GRID - np.argmax(kept[:, ::-1], axis=1)
    rows = np.arange(len(point))
    if_all = last >= _SHARE_GRID
    inside = grid[rows, np.minimum(last, _SHARE_GRID)]
    outside = grid[rows, np.minimum(last + 1, _SHARE_GRID)]
    for _ in range(_SHARE_BISECTIONS):
        middle = (inside + outside) / 2.0
        keep = _share_score(stats, middle[:, None])[:, 0] <= 0.0
        inside = np.where(keep, middle, inside)
        outside = np.where(keep, outside, middle)
    return np.where(if_all, end, inside)


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


# Student's t 97.5% quantiles for 1..30 degrees of freedom (beyond 30 the normal's 1.96
# is within 2%): a two-sided 95% interval of a mean from a small sample.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def mean_interval(
    total: float, squares: float, n: int, *, bounds: tuple[float, float] = (-1.0, 1.0)
) -> tuple[float, float] | None:
    """95% interval of a mean from its sum, sum of squares and count (Student's t; None
    below two observations), clipped to the values' ``bounds``."""
    if n < 2:
        return None
    mean = total / n
    variance = max(0.0, (squares - n * mean * mean) / (n - 1))
    quantile = _T_975[n - 2] if n - 1 <= len(_T_975) else NormalDist().inv_cdf(0.975)
    half = quantile * math.sqrt(variance / n)
    return max(bounds[0], mean - half), min(bounds[1], mean + half)
