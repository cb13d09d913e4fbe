"""Reading a judge's verdict: anything but a verdict on exactly the brands asked about,
with known labels and scores in [-1, 1], is refused (the answer keeps the lexicon's)."""

from __future__ import annotations

import json

import pytest

from echo_ai.analysis.sentiment import BrandSentiment
from echo_ai.analysis.sentiment_judge import (
    InvalidVerdict,
    question,
    read_verdict,
    schema,
    synthetic_verdict,
)
from echo_ai.testing.fake_llm.wire_common import example_of

TEXT = "HubSpot is excellent for startups. Salesforce is pricey and complex."
LEXICON = {
    "HubSpot": BrandSentiment(score=0.6, label="positive", spans=((0, 34),)),
    "Salesforce": BrandSentiment(score=-0.4, label="negative", spans=((35, 68),)),
}
SCORER = "judge:openai:gpt-4o-mini"


def _verdict(*items: object) -> str:
    return json.dumps({"brands": list(items)})


def test_a_valid_verdict_names_its_scorer_and_keeps_the_spans() -> None:
    found = read_verdict(
        _verdict(
            {"brand": "Salesforce", "label": "neutral", "score": 0},
            {"brand": "HubSpot", "label": "positive", "score": 0.9},
        ),
        LEXICON,
        scorer=SCORER,
    )
    assert list(found) == ["HubSpot", "Salesforce"]
    assert found["HubSpot"] == BrandSentiment(0.9, "positive", ((0, 34),), scorer=SCORER)
    assert found["Salesforce"].label == "neutral" and found["Salesforce"].score == 0.0
    assert BrandSentiment.from_dict(found["HubSpot"].to_dict()) == found["HubSpot"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "not JSON"),
        ("[1, 2]", 'no "brands" list'),
        ('{"brands": {}}', 'no "brands" list'),
        (_verdict("HubSpot"), "not an object"),
        (_verdict({"brand": "HubSpot", "label": "positive", "score": 0.5}), "no verdict on"),
        (
            _verdict(
                {"brand": "HubSpot", "label": "positive", "score": 0.5},
                {"brand": "HubSpot", "label": "positive", "score": 0.5},
            ),
            "two verdicts",
        ),
        (_verdict({"brand": "Zoho", "label": "positive", "score": 0.5}), "not asked about"),
        (_verdict({"brand": "HubSpot", "label": "great", "score": 0.5}), "is not one of"),
        (_verdict({"brand": "HubSpot", "label": "positive", "score": "0.5"}), "not a number"),
        (_verdict({"brand": "HubSpot", "label": "positive", "score": True}), "not a number"),
        (_verdict({"brand": "HubSpot", "label": "positive", "score": 1.5}), "outside"),
        ('{"brands": [{"brand": "HubSpot", "label": "positive", "score": NaN}]}', "outside"),
    ],
)
def test_anything_else_is_an_invalid_verdict(answer: str, reason: str) -> None:
    with pytest.raises(InvalidVerdict, match=reason):
        read_verdict(answer, LEXICON, scorer=SCORER)


def test_the_question_quotes_each_brands_sentences_and_the_schema_lists_them() -> None:
    asked = question(TEXT, LEXICON)
    assert "Brand: HubSpot\n> HubSpot is excellent for startups." in asked
    assert "Brand: Salesforce\n> Salesforce is pricey and complex." in asked
    shape = schema(list(LEXICON))
    item = shape["properties"]["brands"]["items"]
    assert item["properties"]["brand"]["enum"] == ["HubSpot", "Salesforce"]
    assert item["additionalProperties"] is False and shape["required"] == ["brands"]
    # What a vendor following the schema sends is a valid verdict.
    assert set(read_verdict(json.dumps(example_of(shape)), LEXICON, scorer=SCORER)) == {
        "HubSpot",
        "Salesforce",
    }


def test_the_demo_judge_repeats_the_lexicon() -> None:
    found = read_verdict(synthetic_verdict(LEXICON), LEXICON, scorer="judge:demo:x")
    assert {b: (s.label, s.score) for b, s in found.items()} == {
        "HubSpot": ("positive", 0.6),
        "Salesforce": ("negative", -0.4),
    }
