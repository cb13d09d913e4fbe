"""Sentiment: the lexicon scorer's rules, its agreement with hand labels, and the metrics."""

from __future__ import annotations

import json
import math
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import BrandMatcher, Extraction
from echo_ai.analysis.metrics import IterationFacts, ScoreMean, compute_metrics
from echo_ai.analysis.scoring import facts_from
from echo_ai.analysis.sentiment import DOMAIN_LEXICON, LABELS, METHOD, label_of, polarity
from echo_ai.analysis.statistics import mean_interval

LABELLED = Path(__file__).parent / "data" / "sentiment_labelled.jsonl"
HELD_OUT = Path(__file__).parent / "data" / "sentiment_heldout.jsonl"

ACCURACY_FLOOR = 0.78
KAPPA_FLOOR = 0.68
"""What the scorer reaches on the labelled set it was tuned on (0.81 and 0.71 when
written), with a small margin: docs/metrics.md ("Sentiment") quotes the measured figures."""
HELD_OUT_ACCURACY_FLOOR = 0.6
HELD_OUT_KAPPA_FLOOR = 0.4
"""On the held-out set: 0.64 and 0.45 when measured (50 mentions found of 51)."""


def matcher(*names: str) -> BrandMatcher:
    return BrandMatcher(
        BrandSet.model_validate(
            {"target": {"name": names[0]}, "competitors": [{"name": n} for n in names[1:]]}
        )
    )


CRM = matcher("HubSpot", "Salesforce", "Pipedrive", "Zoho CRM")


def labels(text: str) -> dict[str, str]:
    return {brand: found.label for brand, found in CRM.extract(text).sentiment.items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HubSpot is a great choice for small teams.", {"HubSpot": "positive"}),
        ("Salesforce is pricey and clunky.", {"Salesforce": "negative"}),
        ("Salesforce is a CRM platform founded in 1999.", {"Salesforce": "neutral"}),
        # negation turns the word round
        ("Pipedrive is not reliable for large teams.", {"Pipedrive": "negative"}),
        # after "but" weighs more than before it
        ("Pipedrive is simple, but it lacks reporting and is slow.", {"Pipedrive": "negative"}),
        # one sentence, two brands, two clauses
        (
            "HubSpot is intuitive, whereas Salesforce is clunky and overpriced.",
            {"HubSpot": "positive", "Salesforce": "negative"},
        ),
        # a comparison: the brand compared with gets the opposite
        (
            "HubSpot is much easier to use than Salesforce.",
            {"HubSpot": "positive", "Salesforce": "negative"},
        ),
        (
            "Zoho CRM feels outdated compared with Pipedrive.",
            {"Zoho CRM": "negative", "Pipedrive": "positive"},
        ),
        # a plain list says nothing either way
        (
            "Options include HubSpot, Salesforce and Pipedrive.",
            {"HubSpot": "neutral", "Salesforce": "neutral", "Pipedrive": "neutral"},
        ),
        # a heading takes in the lines under it, up to the next brand
        (
            "1. **Salesforce**\n   - Very expensive\n   - Steep learning curve\n"
            "2. **Pipedrive**\n   - Intuitive and affordable\n",
            {"Salesforce": "negative", "Pipedrive": "positive"},
        ),
        # a sentence going on about the brand without naming it
        ("I would not pick Zoho CRM. Its interface is clunky and slow.", {"Zoho CRM": "negative"}),
    ],
)
def test_rules(text: str, expected: dict[str, str]) -> None:
    assert labels(text) == expected


def test_a_brand_name_says_nothing_about_itself() -> None:
    glad = matcher("Happy Money", "Great Lakes Bank")
    found = glad.extract("Happy Money and Great Lakes Bank both offer personal loans.")
    assert {b: s.label for b, s in found.sentiment.items()} == {
        "Happy Money": "neutral",
        "Great Lakes Bank": "neutral",
    }


def test_absence_statements_are_not_scored() -> None:
    found = CRM.extract("I'm not familiar with Pipedrive. HubSpot is excellent.")
    assert set(found.sentiment) == {"HubSpot"}


def test_spans_point_at_the_scored_text_and_the_extraction_round_trips() -> None:
    text = "Intro line.\nHubSpot is excellent. Salesforce is expensive."
    extraction = CRM.extract(text)
    hub = extraction.sentiment["HubSpot"]
    assert [text[s:e] for s, e in hub.spans] == ["HubSpot is excellent."]
    assert -1.0 <= extraction.sentiment["Salesforce"].score < 0
    assert extraction.sentiment_method == "lexicon-1"
    again = Extraction.from_dict(json.loads(json.dumps(extraction.to_dict())))
    assert again == extraction


def test_extractions_stored_before_sentiment_read_as_unscored() -> None:
    stored = CRM.extract("HubSpot is excellent.").to_dict()
    del stored["sentiment"], stored["sentiment_method"]
    facts = facts_from(
        success=True, extraction=stored, target="HubSpot", cost=None, latency_ms=None,
        input_tokens=None, output_tokens=None,
    )  # fmt: skip
    assert facts.sentiment is None
    metrics = compute_metrics([facts], target="HubSpot", brands=["Salesforce"])
    assert metrics.sentiment is None


def test_label_thresholds() -> None:
    assert [label_of(x) for x in (0.6, 0.25, 0.2, 0.0, -0.09, -0.1, -0.8)] == [
        "positive", "positive", "neutral", "neutral", "neutral", "negative", "negative",
    ]  # fmt: skip


def _kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    truth = Counter(a for a, _ in pairs)
    predicted = Counter(b for _, b in pairs)
    expected = sum(truth[label] * predicted[label] for label in LABELS) / (n * n)
    return (observed - expected) / (1 - expected)


def _agreement(path: Path) -> tuple[list[tuple[str, str]], int]:
    """(hand label, scorer's label) of every labelled mention the extractor finds, and
    how many it does not find (an extraction miss, not a sentiment disagreement)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    pairs: list[tuple[str, str]] = []
    missed = 0
    for row in rows:
        found = matcher(*row["brands"]).extract(row["answer"]).sentiment
        for brand, label in row["labels"].items():
            assert label in LABELS
            if brand in found:
                pairs.append((label, found[brand].label))
            else:
                missed += 1
    return pairs, missed


def _accuracy(pairs: list[tuple[str, str]]) -> float:
    return sum(a == b for a, b in pairs) / len(pairs)


def test_agreement_with_hand_labels() -> None:
    """144 hand-labelled brand mentions in assistant-style answers, the set the scorer's
    vocabulary and thresholds were tuned on: accuracy and Cohen's kappa."""
    pairs, missed = _agreement(LABELLED)
    assert len(pairs) >= 100 and missed == 0
    assert {label for label, _ in pairs} == set(LABELS)
    assert _accuracy(pairs) >= ACCURACY_FLOOR
    assert _kappa(pairs) >= KAPPA_FLOOR


def test_agreement_on_held_out_answers() -> None:
    """51 mentions written and labelled after the scorer was frozen, in six other product
    categories, and never tuned on: the figure to expect on new answers."""
    pairs, missed = _agreement(HELD_OUT)
    assert len(pairs) + missed == 51 and missed == 1  # "Delta" opening a sentence
    assert _accuracy(pairs) >= HELD_OUT_ACCURACY_FLOOR
    assert _kappa(pairs) >= HELD_OUT_KAPPA_FLOOR


def scored(*entries: tuple[Any, ...], brands: tuple[str, ...] = ()) -> IterationFacts:
    """Facts of an answer with sentiment ``(brand, label, score[, scorer])`` (the lexicon
    scorer unless named)."""
    return IterationFacts(
        success=True,
        brands=brands or tuple(entry[0] for entry in entries),
        target_cited=False,
        cost_usd=Decimal(0),
        latency_ms=None,
        sentiment=tuple(entry if len(entry) == 4 else (*entry, METHOD) for entry in entries),
    )


def test_metrics_per_brand() -> None:
    facts = [
        scored(("acme", "positive", 0.6), ("globex", "negative", -0.4)),
        scored(("acme", "positive", 0.4)),
        scored(("acme", "neutral", 0.0)),
        scored(),  # mentions nobody: in no sentiment denominator
        IterationFacts(success=False, brands=(), target_cited=False, cost_usd=None,
                       latency_ms=None),
        scored(("acme", "negative", -0.5), brands=("acme",)).__class__(
            success=True, brands=("acme",), target_cited=False, cost_usd=None,
            latency_ms=None, answer_class="truncated",
            sentiment=(("acme", "negative", -0.5, METHOD),),
        ),
    ]  # fmt: skip
    metrics = compute_metrics(facts, target="acme", brands=["globex", "initech"])
    assert metrics.sentiment is not None
    acme = metrics.sentiment["acme"]
    assert acme.answers == 3
    assert (acme.positive.numerator, acme.neutral.numerator, acme.negative.numerator) == (2, 1, 0)
    assert acme.positive.value == pytest.approx(2 / 3)
    assert acme.score.value == pytest.approx(1 / 3)
    assert acme.score.ci_low is not None and acme.score.ci_high is not None
    assert acme.score.ci_low < 1 / 3 < acme.score.ci_high
    globex = metrics.sentiment["globex"]
    assert globex.answers == 1 and globex.negative.value == 1.0
    assert globex.score.ci_low is None  # one score: no interval
    assert metrics.sentiment["initech"].answers == 0
    assert metrics.sentiment["initech"].positive.value is None
    assert acme.scorers == {METHOD: 3} and metrics.sentiment["initech"].scorers == {}


def test_metrics_count_the_answers_each_scorer_scored() -> None:
    judge = "judge:openai:gpt-4o-mini"
    facts = [
        scored(("acme", "positive", 0.8, judge), ("globex", "neutral", 0.0, judge)),
        scored(("acme", "negative", -0.2)),  # the judge failed here: the lexicon's
    ]
    metrics = compute_metrics(facts, target="acme", brands=["globex"])
    assert metrics.sentiment is not None
    assert metrics.sentiment["acme"].scorers == {judge: 1, METHOD: 1}
    assert metrics.sentiment["globex"].scorers == {judge: 1}


def test_pooled_metrics_are_the_union_of_the_facts() -> None:
    first = [scored(("acme", "positive", 0.5)), scored(("acme", "negative", -0.3))]
    second = [scored(("acme", "neutral", 0.05)), scored(("acme", "positive", 0.7))]
    pooled = compute_metrics(first + second, target="acme", brands=[])
    assert pooled.sentiment is not None
    one = compute_metrics(first, target="acme", brands=[]).sentiment
    two = compute_metrics(second, target="acme", brands=[]).sentiment
    assert one is not None and two is not None
    total = one["acme"].score.total + two["acme"].score.total
    squares = one["acme"].score.squares + two["acme"].score.squares
    assert pooled.sentiment["acme"].score == ScoreMean.of(total, squares, 4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1, max_value=1), min_size=2, max_size=60))
def test_mean_interval_is_students_t(values: list[float]) -> None:
    n = len(values)
    interval = mean_interval(sum(values), sum(v * v for v in values), n)
    assert interval is not None
    mean = sum(values) / n
    sd = math.sqrt(max(0.0, sum((v - mean) ** 2 for v in values) / (n - 1)))
    quantile = student_t.ppf(0.975, n - 1) if n <= 31 else 1.959964
    half = quantile * sd / math.sqrt(n)
    assert interval[0] == pytest.approx(max(-1.0, mean - half), abs=2e-3)
    assert interval[1] == pytest.approx(min(1.0, mean + half), abs=2e-3)


def test_mean_interval_needs_two_values() -> None:
    assert mean_interval(0.5, 0.25, 1) is None
    assert mean_interval(0.0, 0.0, 0) is None


@pytest.mark.parametrize(
    "text",
    [
        "Brand is a CRM platform founded in 1999.",
        "Options include Brand, Brand and Brand.",
        "Brand :) works",
        "It is ok, I guess.",
        "no",
        "The team behind Brand -- based in Boston -- ships weekly updates.",
        "Brand is not bad, but it is kind of slow and VERY expensive!!",
        "Brand is great 😀 for teams",
        "  Brand isn't the easiest tool, yet it is extremely reliable.  ",
    ],
)
def test_the_fast_path_gives_what_vader_gives(text: str) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    vader.lexicon.update(DOMAIN_LEXICON)
    assert polarity(text) == pytest.approx(vader.polarity_scores(text)["compound"])
