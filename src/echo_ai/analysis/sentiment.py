"""How an answer speaks of each brand it mentions: a score in [-1, 1] and a label.

The default scorer is local and lexicon-based: VADER (the ``vaderSentiment`` package, its
own lexicon and rules for negation, intensifiers and "but" clauses) with a vocabulary of
product-review words added (``pricey``, ``clunky``, ``lacks``, ``intuitive``...) and a few
words that VADER reads as feelings but that are neutral in a recommendation ("tools *like*
X", "customer *support*") toned down. Only what is said *about* a brand counts:

1. the answer is cut into units: lines, then sentences within a line;
2. a brand's context is each unit holding one of its mentions; a heading or list label
   that only names the brand ("1. **HubSpot**", "### HubSpot:") takes in the lines under it
   up to the next line naming another brand or the next heading;
3. a unit naming several brands is cut into clauses at contrast words (but, whereas,
   while, although, however, ";") and each brand gets the clauses that hold it, a clause
   naming no brand going with the one before it ("X is great, but it is pricey");
4. in a comparison ("X is easier to use than Y"), the brand after "than" gets the opposite
   of the clause's score;
5. brand names are masked before scoring (a brand called "Trust Wallet" says nothing
   good about itself), and a brand's score is the mean of its non-neutral context scores
   (0 when every context is neutral).

The label follows the score: ``positive`` from :data:`POSITIVE_FROM`, ``negative`` up to
:data:`NEGATIVE_UP_TO`, ``neutral`` between. docs/metrics.md ("Sentiment") gives the
agreement with hand labels and the limits.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, Protocol


class Mention(Protocol):
    """A brand mention (:class:`echo_ai.analysis.extraction.Mention`)."""

    @property
    def brand(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


Label = Literal["positive", "neutral", "negative"]
LABELS: tuple[Label, ...] = ("positive", "neutral", "negative")

METHOD = "lexicon-1"
"""Stored with every score: which scorer (and which version of its rules) produced it."""

POSITIVE_FROM = 0.25
"""Scores from here up are ``positive``."""
NEGATIVE_UP_TO = -0.1
"""Scores from here down are ``negative`` (answers lean polite: criticism is mild)."""
_NEUTRAL_UNIT = 0.05
"""A context whose absolute compound score is below this says nothing either way."""
_HEADING_REACH = 8
"""Lines a heading or list label takes in below it, at most."""

# VADER's scale is -4..4. Product-review words it lacks, and its feelings that are neutral
# in an assistant's recommendation.
DOMAIN_LEXICON: Mapping[str, float] = {
    "affordable": 1.6,
    "inexpensive": 1.2,
    "cheaper": 1.0,
    "intuitive": 1.9,
    "reliable": 1.8,
    "scalable": 1.3,
    "seamless": 1.7,
    "seamlessly": 1.7,
    "user-friendly": 1.9,
    "versatile": 1.5,
    "standout": 1.9,
    "polished": 1.5,
    "streamlined": 1.4,
    "customizable": 1.0,
    "customisable": 1.0,
    "feature-rich": 1.5,
    "reputable": 1.6,
    "top-rated": 1.9,
    "best-in-class": 2.5,
    "leader": 1.0,
    "leading": 0.9,
    "decent": 0.9,
    "expensive": -1.5,
    "pricey": -1.5,
    "overpriced": -2.2,
    "costly": -1.4,
    "steep": -1.4,
    "clunky": -1.9,
    "cumbersome": -1.7,
    "outdated": -1.6,
    "dated": -1.2,
    "buggy": -2.0,
    "bugs": -1.3,
    "glitches": -1.5,
    "glitchy": -1.8,
    "slow": -1.3,
    "slower": -1.3,
    "lacks": -1.5,
    "lacking": -1.5,
    "limitations": -1.2,
    "limiting": -1.2,
    "drawback": -1.5,
    "drawbacks": -1.5,
    "downsides": -1.2,
    "overkill": -1.4,
    "complex": -0.6,
    "complicated": -1.3,
    "unreliable": -2.0,
    "outage": -1.6,
    "outages": -1.6,
    "bloated": -1.7,
    "restrictive": -1.4,
    "mediocre": -1.6,
    "underwhelming": -1.8,
    "harder": -0.9,
    "criticized": -1.6,
    "criticised": -1.6,
    "frustrating": -2.0,
    "frustrated": -2.0,
    "hidden": -0.6,
    "avoid": -1.3,
    "simple": 0.9,
    "simpler": 1.0,
    "cheap": 0.8,
    "durable": 1.5,
    "inconsistent": -1.3,
    "overage": -1.0,
    "outgrow": -0.9,
    "plain": -0.4,
    "popular": 0.8,
    # Discourse words, not judgements.
    "honestly": 0.0,
    "frankly": 0.0,
    # Neutral in a recommendation: "tools like X", "customer support", "free plan".
    "like": 0.3,
    "support": 0.4,
    "free": 0.5,
    "pain": -0.6,
}

_CONTRAST = re.compile(
    r";|,?\s+(?:but|whereas|while|although|though|however|yet|except that)\b|"
    r"\s+-{1,2}\s+|\s+[–—]\s+(?=\w+\s+(?:is|are|has|have|can|does|lacks?)\b)",
    re.IGNORECASE,
)
_THAN = re.compile(r"\b(?:than|compared (?:with|to)|relative to|versus|vs\.?)(?=\s)", re.I)
_REWRITES = (
    # "less attractive" reads as "not attractive"; VADER only dampens "less".
    (re.compile(r"\bless (?=[a-z]{3,})", re.IGNORECASE), "not "),
    (re.compile(r"\bno longer\b", re.IGNORECASE), "not"),
    (re.compile(r"\bsteer clear of\b", re.IGNORECASE), "avoid"),
)
_CONTINUES = re.compile(
    r"^[\W_]*(?:it|its|it's|they|their|they're|this|that|these|those|he|she|however|but|"
    r"also|still|though|plus|and|on the other hand|the downside|the catch)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”')\]]*\s+(?=[\"“(*\[]*[A-Z0-9])")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|vs|etc|inc|ltd|approx|incl|no|st|mr|ms|dr)\.$", re.I)
_MARKUP = re.compile(r"[#*_`>|]+|^\s*(?:[-+•]|\d+[.)])\s*")
_HEADING = re.compile(r"^\s*#{1,6}\s")


@dataclass(frozen=True, slots=True)
class BrandSentiment:
    """How one answer speaks of one brand."""

    score: float
    """In [-1, 1]: below 0 critical, above 0 favourable."""
    label: Label
    spans: tuple[tuple[int, int], ...]
    """Where the text scored sits in the answer (the contexts, as offsets)."""
    scorer: str | None = None
    """Who scored it when not the answer's ``sentiment_method`` (the lexicon): a judge,
    ``judge:vendor:model`` (:mod:`echo_ai.analysis.sentiment_judge`)."""

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "score": self.score,
            "label": self.label,
            "spans": [list(s) for s in self.spans],
        }
        if self.scorer is not None:
            found["scorer"] = self.scorer
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BrandSentiment:
        score = float(data["score"])
        label = str(data.get("label", label_of(score)))
        scorer = data.get("scorer")
        return cls(
            score=score,
            label=label if label in LABELS else label_of(score),
            spans=tuple((int(s), int(e)) for s, e in data.get("spans", ())),
            scorer=scorer if isinstance(scorer, str) else None,
        )


def label_of(score: float) -> Label:
    if score >= POSITIVE_FROM:
        return "positive"
    if score <= NEGATIVE_UP_TO:
        return "negative"
    return "neutral"


class _Analyzer:
    """VADER with the domain lexicon, built once (reading its lexicon takes ~50 ms)."""

    _lock = threading.Lock()
    _instance: Any = None

    @classmethod
    def get(cls) -> Any:
        with cls._lock:
            if cls._instance is None:
                from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
                    SentimentIntensityAnalyzer,
                )

                analyzer = SentimentIntensityAnalyzer()
                analyzer.lexicon.update(DOMAIN_LEXICON)
                cls._instance = analyzer
            return cls._instance


def polarity(text: str) -> float:
    """VADER's compound score of ``text`` with the domain lexicon, in [-1, 1]."""
    cleaned = _MARKUP.sub(" ", text)
    for pattern, replacement in _REWRITES:
        cleaned = pattern.sub(replacement, cleaned)
    analyzer = _Analyzer.get()
    if cleaned.isascii() and not _has_lexicon_word(cleaned, analyzer.lexicon):
        return 0.0  # what VADER gives such a text, without its slower full pass
    return float(analyzer.polarity_scores(cleaned)["compound"])


def _has_lexicon_word(text: str, lexicon: Mapping[str, float]) -> bool:
    """Whether one of the text's tokens, cut as VADER cuts them (whitespace, then edge
    punctuation stripped from a token that stays longer than two characters), is in the
    lexicon: without one, every valence is 0 and so is VADER's score."""
    for word in text.split():
        stripped = word.strip(string.punctuation)
        if (stripped if len(stripped) > 2 else word).lower() in lexicon:
            return True
    return False


def _units(text: str) -> list[tuple[int, int]]:
    """Lines, then sentences within each line, as trimmed non-empty spans."""
    units: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        start = 0
        for match in _SENTENCE_END.finditer(line):
            if _ABBREVIATION.search(line[start : match.start()]):
                continue
            units.append((offset + start, offset + match.start()))
            start = match.end()
        units.append((offset + start, offset + len(line)))
        offset += len(line) + 1
    trimmed = []
    for start, end in units:
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            trimmed.append((start, end))
    return trimmed


def _is_label_line(text: str, unit: tuple[int, int], mentions: Sequence[Mention]) -> bool:
    """A heading, or a list item or line that names the brand and says next to nothing."""
    line = text[unit[0] : unit[1]]
    if _HEADING.match(line):
        return True
    rest = line
    for mention in mentions:
        if unit[0] <= mention.start < unit[1]:
            local = mention.start - unit[0]
            blank = " " * (mention.end - mention.start)
            rest = rest[:local] + blank + rest[mention.end - unit[0] :]
    words = re.findall(r"[A-Za-z]{2,}", _MARKUP.sub(" ", rest))
    return len(words) <= 2 or (rest.rstrip().endswith(":") and len(words) <= 4)


def _masked(text: str, mentions: Sequence[Mention]) -> str:
    """The text with every brand mention replaced by a neutral word of the same length."""
    if not mentions:
        return text
    parts: list[str] = []
    cursor = 0
    for mention in sorted(mentions, key=lambda m: m.start):
        if mention.start < cursor:
            continue
        parts.append(text[cursor : mention.start])
        width = mention.end - mention.start
        parts.append(("X" * width) if width < 5 else "Brand" + " " * (width - 5))
        cursor = mention.end
    parts.append(text[cursor:])
    return "".join(parts)


def _clauses(text: str, unit: tuple[int, int]) -> list[tuple[int, int]]:
    start, end = unit
    cuts = [start]
    for match in _CONTRAST.finditer(text, start, end):
        if match.start() > cuts[-1]:
            cuts.append(match.start())
    cuts.append(end)
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def _unit_of(units: Sequence[tuple[int, int]], position: int) -> int | None:
    for index, (start, end) in enumerate(units):
        if start <= position < end:
            return index
    return None


def score_mentions(text: str, mentions: Sequence[Mention]) -> dict[str, BrandSentiment]:
    """Each mentioned brand's sentiment in ``text`` (keyed by brand, in order of mention)."""
    if not mentions:
        return {}
    units = _units(text)
    masked = _masked(text, mentions)
    brands_by_unit: dict[int, list[str]] = {}
    for mention in mentions:
        index = _unit_of(units, mention.start)
        if index is not None and mention.brand not in brands_by_unit.setdefault(index, []):
            brands_by_unit[index].append(mention.brand)
    contexts: dict[str, dict[tuple[int, int], float]] = {}

    def add(brand: str, span: tuple[int, int], score: float) -> None:
        contexts.setdefault(brand, {}).setdefault(span, score)

    for index, brands in list(brands_by_unit.items()):
        _follow(text, masked, units, index, brands, brands_by_unit, add)
        unit = units[index]
        if len(brands) == 1:
            brand = brands[0]
            add(brand, unit, polarity(masked[unit[0] : unit[1]]))
            if _is_label_line(text, unit, mentions):
                for below in range(index + 1, min(len(units), index + 1 + _HEADING_REACH)):
                    span = units[below]
                    if below in brands_by_unit or _HEADING.match(text[span[0] : span[1]]):
                        break
                    add(brand, span, polarity(masked[span[0] : span[1]]))
            continue
        _score_clauses(text, masked, unit, mentions, add)

    found: dict[str, BrandSentiment] = {}
    for brand in dict.fromkeys(m.brand for m in mentions):
        scored = contexts.get(brand)
        if not scored:
            continue
        telling = [s for s in scored.values() if abs(s) >= _NEUTRAL_UNIT]
        score = round(sum(telling) / len(telling), 4) if telling else 0.0
        found[brand] = BrandSentiment(score, label_of(score), tuple(sorted(scored)))
    return found


def _follow(
    text: str,
    masked: str,
    units: Sequence[tuple[int, int]],
    index: int,
    brands: Sequence[str],
    brands_by_unit: Mapping[int, Sequence[str]],
    add: Any,
) -> None:
    """Sentences right after a unit naming one brand that go on about it without naming
    it ("It is also pricey.") are about that brand, on the same line or the next."""
    if len(brands) != 1:
        return
    for following in range(index + 1, min(len(units), index + 4)):
        span = units[following]
        if following in brands_by_unit or not _CONTINUES.match(text[span[0] : span[1]]):
            return
        add(brands[0], span, polarity(masked[span[0] : span[1]]))


def _score_clauses(
    text: str,
    masked: str,
    unit: tuple[int, int],
    mentions: Sequence[Mention],
    add: Any,
) -> None:
    """A unit naming several brands: each gets the clauses about it."""
    previous: list[str] = []
    for clause in _clauses(text, unit):
        inside = [m for m in mentions if clause[0] <= m.start < clause[1]]
        brands = list(dict.fromkeys(m.brand for m in inside))
        if not brands:
            for brand in previous:
                add(brand, clause, polarity(masked[clause[0] : clause[1]]))
            continue
        than = _THAN.search(text, clause[0], clause[1])
        if than is None:
            score = polarity(masked[clause[0] : clause[1]])
            for brand in brands:
                add(brand, clause, score)
            previous = brands
            continue
        # A comparison: the subject (named before "than", or the brand the clause goes on
        # about) gets the clause's score, the brand compared with the opposite.
        before = list(dict.fromkeys(m.brand for m in inside if m.start < than.start()))
        after = [m.brand for m in inside if m.start >= than.end()]
        subject = before or previous
        score = polarity(masked[clause[0] : than.start()])
        for brand in subject:
            add(brand, clause, score)
        for brand in dict.fromkeys(after):
            if brand not in subject:
                add(brand, clause, -score)
        previous = subject or brands
