"""The A/A simulation: pairs of runs drawn from the same answer distribution (nothing
changed) go through the rules' evaluation; the share of runs on which a rule fires must
stay at or below its false discovery rate level (with nothing changed, any alert is a false
one, and Benjamini–Hochberg keeps the chance of one at most the level). The figures found
are in docs/metrics.md ("Alerts: the false-alarm rate")."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from echo_ai.alerts.rules import RuleSpec, judge
from echo_ai.analysis.metrics import Rate
from echo_ai.analysis.significance import Figure, Metric, RunFigures
from tests.kit import untraced

TARGET = "HubSpot"
BRANDS = {TARGET: 0.45, "Salesforce": 0.6, "Pipedrive": 0.3, "Zoho": 0.15}
PROVIDERS = ("openai:gpt-4o", "anthropic:claude")
CITED = 0.25
ANSWERS = 60
PAIRS = 1500


@dataclass
class Counts:
    answers: int = 0
    visible: int = 0
    top1: int = 0
    top3: int = 0
    cited: int = 0

    def __post_init__(self) -> None:
        self.mentions: dict[str, int] = dict.fromkeys(BRANDS, 0)


def _answers(rng: random.Random, n: int) -> Counts:
    """``n`` answers: each names every brand with its chance, in a random order, and cites
    the target's site with its chance when it names it."""
    counts = Counts(answers=n)
    for _ in range(n):
        named = [brand for brand, chance in BRANDS.items() if rng.random() < chance]
        rng.shuffle(named)
        for brand in named:
            counts.mentions[brand] += 1
        if TARGET in named:
            rank = named.index(TARGET) + 1
            counts.visible += 1
            counts.top1 += rank == 1
            counts.top3 += rank <= 3
            counts.cited += rng.random() < CITED
    return counts


def _figures(counts: Counts, provider: str | None) -> dict[Figure, Rate]:
    n = counts.answers
    found = {
        Figure(provider, Metric.VISIBILITY): Rate.of(counts.visible, n),
        Figure(provider, Metric.TOP1): Rate.of(counts.top1, n),
        Figure(provider, Metric.TOP3): Rate.of(counts.top3, n),
        Figure(provider, Metric.CITATION_RATE): Rate.of(counts.cited, n),
    }
    for brand, mentioned in counts.mentions.items():
        if brand != TARGET:
            found[Figure(provider, Metric.MENTION_RATE, brand)] = Rate.of(mentioned, n)
    return found


def simulated_run(rng: random.Random) -> RunFigures:
    """A run's figures as :func:`echo_ai.experiments.history.comparable_figures` gives them:
    each provider's and the providers pooled."""
    rates: dict[Figure, Rate] = {}
    pooled = Counts()
    for provider in PROVIDERS:
        counts = _answers(rng, ANSWERS)
        rates.update(_figures(counts, provider))
        pooled.answers += counts.answers
        pooled.visible += counts.visible
        pooled.top1 += counts.top1
        pooled.top3 += counts.top3
        pooled.cited += counts.cited
        for brand in BRANDS:
            pooled.mentions[brand] += counts.mentions[brand]
    rates.update(_figures(pooled, None))
    return RunFigures(rates, frozenset(), (frozenset(PROVIDERS),))


def false_alarm_rate(spec: RuleSpec, *, pairs: int = PAIRS, seed: int = 14) -> float:
    rng = random.Random(seed)
    fired = sum(judge(simulated_run(rng), simulated_run(rng), spec).fires for _ in range(pairs))
    return fired / pairs


def margin(level: float, pairs: int = PAIRS) -> float:
    """Three standard errors of a share estimated from ``pairs`` runs at ``level``."""
    return 3 * math.sqrt(level * (1 - level) / pairs)


EVERY_METRIC = frozenset(Metric)


@pytest.mark.parametrize(
    "spec",
    [
        RuleSpec(metrics=EVERY_METRIC, level=0.05),
        RuleSpec(metrics=EVERY_METRIC, level=0.10),
        RuleSpec(metrics=frozenset({Metric.VISIBILITY}), level=0.05),
        RuleSpec(metrics=frozenset({Metric.VISIBILITY}), providers=frozenset({"all"}), level=0.05),
    ],
    ids=["every-figure-5%", "every-figure-10%", "visibility-5%", "pooled-visibility-5%"],
)
@untraced
def test_false_alarm_rate_stays_at_or_below_the_level(spec: RuleSpec) -> None:
    rate = false_alarm_rate(spec)
    assert rate <= spec.level + margin(spec.level), f"{rate:.3f} fired at level {spec.level}"


@untraced
def test_a_minimum_effect_only_removes_alerts() -> None:
    without = false_alarm_rate(RuleSpec(metrics=EVERY_METRIC), pairs=400)
    with_minimum = false_alarm_rate(RuleSpec(metrics=EVERY_METRIC, min_effect=0.10), pairs=400)
    assert with_minimum <= without


@untraced
def test_a_real_change_fires() -> None:
    """The same evaluation is not blind: visibility from 45% to 75% fires nearly always."""
    global BRANDS
    rng = random.Random(3)
    spec = RuleSpec(metrics=EVERY_METRIC, min_effect=0.05)
    before_brands = dict(BRANDS)
    fired = 0
    try:
        for _ in range(100):
            BRANDS = before_brands
            before = simulated_run(rng)
            BRANDS = {**before_brands, TARGET: 0.75}
            after = simulated_run(rng)
            fired += judge(before, after, spec).fires
    finally:
        BRANDS = before_brands
    assert fired >= 95
