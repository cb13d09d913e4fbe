"""Brand terms compiled into regular expressions, and the rules that reject a raw match.

Every term of every brand is compiled once per :class:`~echo_ai.analysis.brands.BrandSet`
and all its occurrences are found, so that at a given place the extractor can keep the
longest ("Zoho CRM" over "Zoho", "Microsoft Dynamics 365" over "Microsoft"). Boundaries
are "no letter or digit on either side", which (unlike ``\\b``) treats "_HubSpot_",
"HubSpot's", "Salesforce-based" and "(Pipedrive)" alike and works for any script.

Case rule for a term whose ``case_sensitive`` is None: case-sensitive when all its words
are ordinary words by word frequency (:mod:`echo_ai.analysis.common_words`), otherwise
case-insensitive. Such automatically cased terms are matched as written (a single word
typed in lower case is matched capitalised: "notion" -> "Notion"), and get two extra
context rules, because a capital letter at the start of a sentence says nothing about
being a name (the first rule also applies to a term set case-sensitive by hand when it is
made of ordinary words, such as "Teams"):

* at the start of a sentence, list item or table cell, or in a markdown heading, a match needs
  evidence from the next word that it is a name (a verb, punctuation, a possessive, a
  capitalised uncommon word): "Notion is" and "Close, the CRM" count, "Close the deal",
  "Zoom in", "Notion of" and "## How to Close More Deals" do not;
* a weekday term ("Monday" as an alias of monday.com) is not a mention in a date context:
  after "on", "next", "every", "by"...; before a date, a time, "morning", or in a range of
  days ("Monday to Friday", "Monday–Friday"). This rule applies whatever the case setting.
  For monday.com, track the alias "monday.com" (always a mention) and let "Monday" be
  decided by these rules; add exclude phrases for any other date idiom an experiment meets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from echo_ai.analysis.brands import BrandDefinition
from echo_ai.analysis.common_words import is_common_phrase
from echo_ai.analysis.normalise import Normalised, normalise_term

_BEFORE = r"(?<![^\W_])"
_AFTER = r"(?![^\W_])"
_SPACE = re.compile(r"\s+")

_WEEKDAYS = frozenset(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
)
_DAY = r"(?:sun|mon|tues|wednes|thurs|fri|satur)days?"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE_BEFORE = re.compile(
    r"(?:\b(?:on|next|last|every|this|by|until|till|from|each|since|before|after|through|thru"
    rf"|per|coming|following|previous|early|late|starting|ending)|\b{_DAY}\s*(?:,|&|and|or|to"
    r"|through|thru|-|–|—))\s*[*_]*$",
    re.IGNORECASE,
)
_DATE_AFTER = re.compile(
    rf"^[*_]*(?:\s*,)?\s*(?:\d|{_MONTH}\s*\d|(?:morning|afternoon|evening|night|noon|midnight"
    rf"|mornings|nights)\b|(?:to|through|thru|until|till|and|or|&)\s+{_DAY}\b|[-–—]\s*{_DAY}\b)",
    re.IGNORECASE,
)
_HEADING_LINE = re.compile(r"\n[ \t]*#{1,6}[ \t][^\n]*$")
# The start of a sentence, a list item (numbered, emoji-numbered, medal, bullet), a heading
# or a table cell.
_SENTENCE_START = re.compile(
    r"(?:[.!?:|]|\n)\s*(?:[-*+•>]\s+|#{1,6}\s+|\d{1,3}[.)]\s+"
    r"|(?:[0-9]\ufe0f?\u20e3)+\s*|[\U0001f947-\U0001f949\U0001f51f]\s*)?[*_\"'“‘(\[]*$"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The next word on the same line: a heading holding only the name ("### Notion") is a name.
_NEXT_WORD = re.compile(r"^[*_\"'”’)\]]*[ \t]+([^\W\d_]+)")
# Words that, right after a sentence-initial name, show it is the subject: "Notion is",
# "Close can", "Zoom and Teams". Third-person verbs ("offers", "integrates") are recognised
# by their ending instead of being listed.
_SUBJECT_FOLLOWERS = _words(
    "is was are were has had have can could will would should may might must does did also "
    "still now and or remains offers lets gives costs works stands shines excels itself "
    "doesn isn won hasn didn wasn aren cannot couldn wouldn shouldn"
)
_NOT_VERBS = _words(
    "this its his hers ours yours theirs these those less across plus always perhaps "
    "sometimes towards as us thus bus gas bonus status focus process access business news"
)
_CONTEXT = 40
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Term:
    """One compiled brand term."""

    brand: int
    """Index of the brand in ``BrandSet.all``."""
    text: str
    folded: bool
    auto_cased: bool
    weekday: bool
    words: int
    """Number of words in the term."""
    anchor: str
    """First word of the normalised term: located with ``str.find``, which is far cheaper
    than scanning the whole answer with one regular expression per term (or an alternation
    of all of them)."""
    pattern: re.Pattern[str]


def _term_rule(text: str, case_sensitive: bool | None) -> tuple[tuple[str, ...], bool, bool]:
    """``(spellings to match, folded, auto_cased)`` for a term.

    An automatically cased term typed in lower case is also matched capitalised, and a
    single word only capitalised: "notion" means Notion, not the notion of something, while
    a lower-case phrase such as "monday work management" is a deliberate spelling.
    """
    if case_sensitive is None:
        if not is_common_phrase(text):
            return (text,), True, False
        if text != text.lower():
            return (text,), False, True
        capitalised = text[:1].upper() + text[1:]
        return ((text, capitalised) if " " in text else (capitalised,)), False, True
    if case_sensitive:
        # Set case-sensitive by hand ("Teams"), an ordinary word is as ambiguous at the
        # start of a sentence as an automatically cased one.
        return (text,), False, is_common_phrase(text)
    return (text,), True, False


def _compile(text: str, *, folded: bool) -> tuple[str, re.Pattern[str]] | None:
    """``(anchor, pattern)`` for a term or phrase; None if it normalises to nothing."""
    words = [word for word in _SPACE.split(normalise_term(text, fold=folded)) if word]
    if not words:
        return None
    body = r"\s+".join(re.escape(word) for word in words)
    return words[0], re.compile(f"{_BEFORE}{body}{_AFTER}")


def _find_all(
    text: str, anchored: Mapping[str, Sequence[tuple[re.Pattern[str], _T]]]
) -> list[tuple[int, int, _T]]:
    found: list[tuple[int, int, _T]] = []
    for anchor, candidates in anchored.items():
        position = text.find(anchor)
        while position >= 0:
            for pattern, value in candidates:
                match = pattern.match(text, position)
                if match is not None:
                    found.append((match.start(), match.end(), value))
            position = text.find(anchor, position + 1)
    return found


class TermIndex:
    """All terms of a brand set, compiled; built once and reused for every answer.

    Every occurrence of every term is found, overlapping ones included; the extractor then
    keeps the longest at each place, so "Zoho CRM" wins over "Zoho" whatever the order in
    which brands were defined.
    """

    def __init__(self, brands: Sequence[BrandDefinition]) -> None:
        self.anchored: dict[bool, dict[str, list[tuple[re.Pattern[str], Term]]]] = {
            True: {},
            False: {},
        }
        seen: set[tuple[bool, str]] = set()
        for index, brand in enumerate(brands):
            for term in brand.terms:
                spellings, folded, auto = _term_rule(term.text, term.case_sensitive)
                weekday = term.text.casefold() in _WEEKDAYS
                words = len(term.text.split())
                for spelling in spellings:
                    compiled = _compile(spelling, folded=folded)
                    if compiled is None or (folded, compiled[1].pattern) in seen:
                        continue
                    seen.add((folded, compiled[1].pattern))
                    anchor, pattern = compiled
                    entry = Term(index, term.text, folded, auto, weekday, words, anchor, pattern)
                    self.anchored[folded].setdefault(anchor, []).append((pattern, entry))
        self.excludes: dict[int, dict[str, list[tuple[re.Pattern[str], None]]]] = {}
        for index, brand in enumerate(brands):
            for phrase in brand.exclude_terms:
                compiled = _compile(phrase, folded=True)
                if compiled is not None:
                    anchors = self.excludes.setdefault(index, {})
                    anchors.setdefault(compiled[0], []).append((compiled[1], None))

    def uses(self, *, folded: bool) -> bool:
        """Whether any term (or, for folded text, any exclude phrase) needs this text form."""
        return bool(self.anchored[folded]) or (folded and bool(self.excludes))

    def find(self, normalised: Normalised, *, folded: bool) -> list[tuple[int, int, Term]]:
        """Raw matches ``(start, end, term)`` in original offsets, before any context rule."""
        return [
            (*normalised.original_span(start, end), term)
            for start, end, term in _find_all(normalised.text, self.anchored[folded])
        ]

    def exclusion_spans(self, brand: int, folded_text: Normalised) -> list[tuple[int, int]]:
        """Original spans of the brand's exclude phrases."""
        anchored = self.excludes.get(brand)
        if anchored is None:
            return []
        return [
            folded_text.original_span(start, end)
            for start, end, _ in _find_all(folded_text.text, anchored)
            if end > start
        ]


def in_date_context(text: str, start: int, end: int) -> bool:
    """Whether a weekday-name match reads as a day of the week rather than a brand."""
    before = text[max(0, start - _CONTEXT) : start]
    after = text[end : end + _CONTEXT]
    if after[:1] == "." and after[1:2].isalnum():
        return False  # "Monday.com": a domain-like name, not a date
    return bool(_DATE_BEFORE.search(before) or _DATE_AFTER.search(after))


def _looks_like_subject(word: str, *, title_case: bool) -> bool:
    lowered = word.lower()
    if lowered in _SUBJECT_FOLLOWERS:
        return True
    if word[:1].isupper():
        # In a Title Case heading every word is capitalised; only an uncommon one or an
        # acronym ("Notion AI") tells.
        return not title_case or word.isupper() or not is_common_phrase(word)
    verb_like = lowered.endswith("s") and not lowered.endswith(("ss", "us", "is"))
    return verb_like and lowered not in _NOT_VERBS


def reads_as_ordinary_word(text: str, start: int, end: int, *, words: int = 1) -> bool:
    """Whether a capitalised common word is just an ordinary word.

    At the start of a sentence or list item, and anywhere in a markdown heading (often in
    Title Case), the capital is no evidence of a name, so the next word must supply it: a
    name is followed by punctuation, a possessive, a number, a verb ("Notion is", "Close
    offers") or a capitalised uncommon word ("Zoom Workplace", "Notion AI"), whereas "Close
    the deal", "Zoom in", "Notion of", "Close attention" or "## How to Close More Deals"
    continue as ordinary English. Outside headings, a name of several capitalised words
    ("New Balance") is evidence enough by itself.
    """
    window_start = max(0, start - _CONTEXT)
    before = ("\n" if window_start == 0 else "") + text[window_start:start]
    heading = _HEADING_LINE.search(before) is not None
    if not heading and (words > 1 or not _SENTENCE_START.search(before)):
        return False
    following = _NEXT_WORD.match(text[end : end + _CONTEXT])
    return following is not None and not _looks_like_subject(following.group(1), title_case=heading)
