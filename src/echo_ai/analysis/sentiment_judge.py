"""The optional sentiment judge: a model asked, per answer, how the answer speaks of each
brand it mentions, through the vendor's structured output (docs/metrics.md, "Sentiment").

This module holds what is independent of who answers: the question (the sentences that
mention each brand, which the lexicon scorer found), the JSON Schema of the verdict, the
reading of a verdict (anything malformed or out of range is :class:`InvalidVerdict`, and
the answer keeps its lexicon result), and the offline demo judge's synthetic verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from echo_ai.analysis.sentiment import LABELS, BrandSentiment, Label

SCHEMA_NAME = "brand_sentiment"
JUDGE_PREFIX = "judge:"
"""A judged brand's ``scorer`` is this and the judge's ``vendor:model``."""
MAX_CONTEXT_CHARACTERS = 4_000
"""Of each brand's sentences sent to the judge (an answer is a few thousand at most)."""

_INSTRUCTION = """\
You judge how an AI assistant's answer speaks of brands. For each brand listed below, \
read only the sentences quoted for it (taken from the answer) and say how they speak of \
that brand: "positive" (recommends or praises it), "negative" (criticises it or warns \
against it) or "neutral" (names it without judging it, or balances praise and criticism \
evenly), with a score from -1 (very critical) to 1 (very favourable), 0 for neutral. \
Judge what is said about each brand, not the brand's reputation. Answer with every \
listed brand exactly once."""


class InvalidVerdict(ValueError):
    """A judge's answer that is not a verdict on exactly the brands asked about."""


def scorer_name(provider: str) -> str:
    """The ``scorer`` of sentiment a judge (``vendor:model``) produced."""
    return f"{JUDGE_PREFIX}{provider}"


def schema(brands: Sequence[str]) -> dict[str, Any]:
    """The verdict's JSON Schema: every brand once, its label and its score. Strict
    structured outputs (OpenAI's) accept no numeric bounds, so the range is checked on
    reading (:func:`read_verdict`)."""
    return {
        "type": "object",
        "properties": {
            "brands": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "brand": {"type": "string", "enum": list(brands)},
                        "label": {"type": "string", "enum": list(LABELS)},
                        "score": {"type": "number"},
                    },
                    "required": ["brand", "label", "score"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["brands"],
        "additionalProperties": False,
    }


def question(text: str, lexicon: Mapping[str, BrandSentiment]) -> str:
    """What the judge is asked about one answer: each brand with the sentences that
    mention it (the lexicon scorer's contexts, as offsets into ``text``)."""
    parts = [_INSTRUCTION, ""]
    for brand, found in lexicon.items():
        sentences = [text[start:end].strip() for start, end in found.spans]
        quoted = "\n".join(f"> {s}" for s in sentences if s)[:MAX_CONTEXT_CHARACTERS]
        parts.extend([f"Brand: {brand}", quoted or "> (named only in passing)", ""])
    return "\n".join(parts).rstrip()


def read_verdict(
    answer: str, lexicon: Mapping[str, BrandSentiment], *, scorer: str
) -> dict[str, BrandSentiment]:
    """The judge's sentiment of each brand of ``lexicon`` (keeping the lexicon's spans: the
    text judged), or :class:`InvalidVerdict` saying what is wrong with ``answer``."""
    try:
        payload = json.loads(answer)
    except ValueError:
        raise InvalidVerdict("the judge's answer is not JSON") from None
    items = payload.get("brands") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise InvalidVerdict('the judge\'s answer has no "brands" list')
    found: dict[str, BrandSentiment] = {}
    for item in items:
        if not isinstance(item, dict):
            raise InvalidVerdict("a verdict is not an object")
        brand, label, score = item.get("brand"), item.get("label"), item.get("score")
        if not isinstance(brand, str) or brand not in lexicon:
            raise InvalidVerdict(f"a verdict on {brand!r}, which was not asked about")
        if brand in found:
            raise InvalidVerdict(f"two verdicts on {brand!r}")
        if label not in LABELS:
            raise InvalidVerdict(f"the label {label!r} of {brand!r} is not one of {LABELS}")
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise InvalidVerdict(f"the score of {brand!r} is not a number")
        if not math.isfinite(score) or not -1 <= score <= 1:
            raise InvalidVerdict(f"the score {score!r} of {brand!r} is outside [-1, 1]")
        checked: Label = label
        found[brand] = BrandSentiment(
            score=float(score), label=checked, spans=lexicon[brand].spans, scorer=scorer
        )
    missing = [brand for brand in lexicon if brand not in found]
    if missing:
        raise InvalidVerdict(f"no verdict on {', '.join(missing)}")
    return {brand: found[brand] for brand in lexicon}


def synthetic_verdict(lexicon: Mapping[str, BrandSentiment]) -> str:
    """The offline demo judge's answer (synthetic): the lexicon's own labels and scores,
    in the verdict's shape, so the whole path runs with no key."""
    return json.dumps(
        {
            "brands": [
                {"brand": brand, "label": found.label, "score": round(found.score, 4)}
                for brand, found in lexicon.items()
            ]
        }
    )
