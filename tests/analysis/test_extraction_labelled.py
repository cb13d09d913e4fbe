"""Precision and recall of brand extraction on hand-labelled assistant answers."""

from __future__ import annotations

import pytest

from echo_ai.analysis.extraction import BrandMatcher, Extraction
from tests.analysis.labelled_answers import ANSWERS, BRAND_SETS, Labelled

MATCHERS = {name: BrandMatcher(brands) for name, brands in BRAND_SETS.items()}


def _extract(answer: Labelled) -> Extraction:
    return MATCHERS[answer.brand_set].extract(answer.text)


def test_the_labelled_set_is_large_and_varied() -> None:
    assert len(ANSWERS) >= 40
    assert len({answer.name for answer in ANSWERS}) == len(ANSWERS)
    assert len({answer.brand_set for answer in ANSWERS}) >= 6
    for answer in ANSWERS:
        known = set(BRAND_SETS[answer.brand_set].names)
        assert answer.expected <= known, answer.name
        assert set(answer.ranks) <= answer.expected, answer.name


def test_micro_averaged_precision_and_recall() -> None:
    true_positives = false_positives = false_negatives = 0
    errors: list[str] = []
    for answer in ANSWERS:
        found = set(_extract(answer).brands_in_order)
        true_positives += len(found & answer.expected)
        false_positives += len(found - answer.expected)
        false_negatives += len(answer.expected - found)
        if found != answer.expected:
            errors.append(
                f"{answer.name}: extra {sorted(found - answer.expected)}, "
                f"missed {sorted(answer.expected - found)}"
            )
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / (true_positives + false_negatives)
    print(f"\nlabelled answers: {len(ANSWERS)}, (answer, brand) pairs: {true_positives}")
    print(f"precision {precision:.3f}  recall {recall:.3f}")
    for error in errors:
        print("  ", error)
    assert precision >= 0.97
    assert recall >= 0.97


@pytest.mark.parametrize(
    "answer", [a for a in ANSWERS if a.order is not None], ids=lambda answer: answer.name
)
def test_order_of_first_appearance(answer: Labelled) -> None:
    assert _extract(answer).brands_in_order == answer.order


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.ranks], ids=lambda answer: answer.name)
def test_list_ranks(answer: Labelled) -> None:
    assert dict(_extract(answer).list_ranks) == answer.ranks


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.absent], ids=lambda answer: answer.name)
def test_absence_statements(answer: Labelled) -> None:
    assert {absence.brand for absence in _extract(answer).absences} == answer.absent
