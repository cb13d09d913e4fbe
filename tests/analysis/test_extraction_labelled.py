"""Precision and recall of brand extraction on hand-labelled assistant answers.

The figures are computed over the whole set, as docs/extraction.md reports them; every
disagreement with the labels is printed (``pytest -s``), so a known miss stays visible
instead of being labelled away.
"""

from __future__ import annotations

from echo_ai.analysis.extraction import BrandMatcher, Extraction
from echo_ai.providers.base import Completion
from tests.analysis.labelled_answers import ANSWERS, BRAND_SETS, Labelled

MATCHERS = {name: BrandMatcher(brands) for name, brands in BRAND_SETS.items()}
EXTRACTIONS = {answer.name: MATCHERS[answer.brand_set].extract(answer.text) for answer in ANSWERS}


def _extract(answer: Labelled) -> Extraction:
    return EXTRACTIONS[answer.name]


def _report(title: str, figure: float, errors: list[str]) -> None:
    print(f"\n{title}: {figure:.3f}")
    for error in errors:
        print("  ", error)


def test_the_labelled_set_is_large_and_varied() -> None:
    assert len(ANSWERS) >= 100
    assert len({answer.name for answer in ANSWERS}) == len(ANSWERS)
    assert len({answer.brand_set for answer in ANSWERS}) >= 10
    for answer in ANSWERS:
        known = set(BRAND_SETS[answer.brand_set].names)
        assert answer.expected <= known, answer.name
        assert set(answer.ranks) <= answer.expected, answer.name
        assert answer.absent <= known, answer.name
    texts = [answer.text for answer in ANSWERS]
    assert sum("|---" in text or "| --- |" in text or "--- |" in text for text in texts) >= 6
    assert sum(any(mark in text for mark in ("\u20e3", "🥇")) for text in texts) >= 5
    assert sum(bool(answer.absent) for answer in ANSWERS) >= 15


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
    _report(f"precision {precision:.3f}, recall", recall, errors)
    assert precision >= 0.98
    assert recall >= 0.98


def test_list_rank_accuracy() -> None:
    """Share of labelled (answer, brand) ranks found exactly; a rank given to a brand the
    label does not rank counts as an error too."""
    correct = total = 0
    errors: list[str] = []
    for answer in (a for a in ANSWERS if a.ranks):
        found = dict(_extract(answer).list_ranks)
        total += len(answer.ranks) + len(set(found) - set(answer.ranks))
        correct += sum(found.get(brand) == rank for brand, rank in answer.ranks.items())
        if found != answer.ranks:
            errors.append(f"{answer.name}: found {found}, labelled {answer.ranks}")
    accuracy = correct / total
    _report(f"rank accuracy over {total} ranks", accuracy, errors)
    assert total >= 100
    assert accuracy >= 0.98


def test_order_of_first_appearance() -> None:
    ordered = [a for a in ANSWERS if a.order is not None]
    wrong = [a.name for a in ordered if _extract(a).brands_in_order != a.order]
    accuracy = 1 - len(wrong) / len(ordered)
    _report(f"answers in the labelled order ({len(ordered)})", accuracy, wrong)
    assert accuracy >= 0.98


def test_admissions_of_not_knowing() -> None:
    with_admission = [a for a in ANSWERS if a.absent]
    errors = [
        f"{a.name}: {sorted({x.brand for x in _extract(a).absences})}, labelled {sorted(a.absent)}"
        for a in ANSWERS
        if {absence.brand for absence in _extract(a).absences} != a.absent
    ]
    accuracy = 1 - len(errors) / len(ANSWERS)
    _report(
        f"answers with the labelled absences ({len(with_admission)} have some)", accuracy, errors
    )
    assert accuracy >= 0.98


def test_only_the_answer_text_is_extracted_never_the_reasoning() -> None:
    """Adapters keep a reasoning block in ``Completion.reasoning``; the extractor gets the
    answer text, so a brand named only while thinking is not a mention."""
    completion = Completion(
        text="For linked notes I would pick Obsidian.",
        model_version=None,
        input_tokens=None,
        output_tokens=None,
        latency_ms=1.0,
        reasoning="Notion is popular, but Evernote and Logseq also come to mind.",
    )
    result = MATCHERS["notes"].extract(completion.text)
    assert result.brands_in_order == ("Obsidian",)
