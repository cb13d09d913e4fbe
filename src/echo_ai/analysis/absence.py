"""Statements in which the assistant says it does not know a brand.

"I couldn't find information about Acme CRM" names Acme CRM but is the opposite of a
recommendation, so counting it as a mention would inflate visibility exactly for unknown
brands. The extractor asks this module for the clauses that carry such a statement; brand
names inside them are recorded as absences instead of mentions.

The scope is a clause, not the whole sentence: in "I'm not familiar with Acme, but HubSpot
is a solid choice" HubSpot is still a mention. Clauses are split at semicolons, dashes and
contrastive conjunctions (but, however, although, though, whereas, while).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

_APOS = "['’]"
_NOT = rf"(?:\s+not|n?{_APOS}t|\s*not)"
_INFO = r"(?:information|info|data|details|knowledge|records?)"
_INFO_ADJ = (
    r"(?:(?:any|much|enough|specific|reliable|detailed|verified|credible|public|publicly"
    r"|available|current|recent|up-to-date|concrete)\s+)*"
)
_THING = r"(?:product|company|brand|tool|service|app|application|platform|software|business|firm)s?"
_KNOWN = r"(?:widely|well|commonly|generally|broadly)[- ](?:known|recognized|recognised|used)"

_TRIGGERS = [
    # I couldn't / can't / was unable to / did not find|locate|verify ...
    rf"\b(?:i|we)(?:\s+(?:could|can|did|do){_NOT}|\s+cannot|\s+(?:was|am|were)\s+unable\s+to"
    rf"|{_APOS}m\s+unable\s+to|\s+(?:was|am|were)\s+not\s+able\s+to|{_APOS}m\s+not\s+able\s+to)"
    r"\s+(?:find|locate|identify|verify|confirm|see|access)\b",
    # I'm not familiar with / aware of, I'm unfamiliar with
    rf"\b(?:i{_APOS}m|i\s+am|i\s+was|we{_APOS}re|we\s+are)\s+(?:not|un)\s*(?:familiar|aware)\s+"
    r"(?:with|of)\b",
    rf"\b(?:i|we)\s+(?:have|had)\s+no\s+{_INFO_ADJ}{_INFO}\b",
    rf"\b(?:i|we)\s+(?:do|did){_NOT}\s+have\s+{_INFO_ADJ}{_INFO}\b",
    rf"\b(?:i|we)\s+(?:do|did){_NOT}\s+(?:know\s+(?:of|about)|recogni[sz]e)\b",
    # X is not something I know / am familiar with
    rf"\b(?:is|are){_NOT}\s+something\s+(?:that\s+)?i(?:\s+am|{_APOS}m)?\s+"
    r"(?:know|familiar|recogni[sz]e|have\s+(?:information|heard))",
    # there is no widely known product called X; there is no information about X
    rf"\bthere\s+(?:is|are|{_APOS}s)\s+no\s+(?:{_KNOWN}\s+|notable\s+|established\s+"
    rf"|prominent\s+|major\s+|such\s+)?{_THING}\s+(?:called|named|known\s+as|by\s+the\s+name)\b",
    rf"\bno\s+{_INFO_ADJ}(?:information|data|details|records?|mentions?)\s+(?:is\s+|are\s+)?"
    r"(?:available\s+)?(?:about|on|regarding|for|of)\b",
    rf"\b(?:does|do|did){_NOT}\s+(?:appear|seem)\s+to\s+(?:be\s+(?:a\s+|an\s+)?{_KNOWN}|exist)",
    rf"\b(?:is|are){_NOT}\s+(?:a\s+|an\s+)?{_KNOWN}\s+{_THING}",
    rf"\b(?:my|the)\s+(?:knowledge(?:\s+base)?|training\s+data|information|sources?)\s+"
    rf"(?:does|do){_NOT}\s+(?:include|contain|cover|mention)",
    rf"\b(?:i|we)\s+(?:have{_NOT}|haven{_APOS}t)\s+(?:heard\s+of|come\s+across|encountered)\b",
    r"\bunable\s+to\s+(?:find|locate|verify|confirm)\s+(?:any\s+)?(?:information|details|data)\b",
]
_TRIGGER = re.compile("|".join(f"(?:{pattern})" for pattern in _TRIGGERS), re.IGNORECASE)

_CLAUSE_BREAK = re.compile(
    r";|\s[-–—]\s|,?\s+(?:but|however|although|though|whereas|while|instead)\b",
    re.IGNORECASE,
)
_SENTENCE_ENDS = ("\n", ". ", "! ", "? ", ".\t")
# Every trigger holds one of these; looking for them with ``str.find`` first keeps the
# (slow) trigger expression away from the vast majority of sentences.
_NEGATIONS = (
    " no ",
    "\nno ",
    " not ",
    "n't ",
    "n’t ",
    "cannot ",
    "unable ",
    "unaware ",
    "unfamiliar ",
)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _clause_bounds(text: str, sentence: tuple[int, int], position: int) -> tuple[int, int]:
    start, end = sentence
    for match in _CLAUSE_BREAK.finditer(text, sentence[0], sentence[1]):
        if match.end() <= position:
            start = match.end()
        elif match.start() >= position:
            end = match.start()
            break
    return start, end


def _negation_positions(text: str) -> list[int]:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower-case to two ("İ"): keep offsets
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    found: list[int] = []
    for negation in _NEGATIONS:
        position = lowered.find(negation)
        while position >= 0:
            found.append(position)
            position = lowered.find(negation, position + 1)
        if negation == " no " and lowered.startswith("no "):
            found.append(0)
    return found


def _sentence_around(text: str, position: int) -> tuple[int, int]:
    """Span of the sentence holding ``position``; ``str`` searches beat a regex scan here."""
    starts = [(text.rfind(end, 0, position), len(end)) for end in _SENTENCE_ENDS]
    start = max((found + length for found, length in starts if found >= 0), default=0)
    ends = [text.find(end, position) for end in _SENTENCE_ENDS]
    end = min((found + 1 for found in ends if found >= 0), default=len(text))
    return _trimmed(text, start, end)


def absence_clauses(
    text: str, positions: Sequence[int]
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """``(clause span, sentence span)`` of clauses stating a brand is unknown.

    Only sentences holding both a negation and one of ``positions`` (the starts of brand
    matches) are examined: a statement about no tracked brand changes nothing.
    """
    if not positions:
        return []
    sentences = sorted({_sentence_around(text, p + 1) for p in _negation_positions(text)})
    found: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for sentence in sentences:
        index = bisect.bisect_left(positions, sentence[0])
        if index == len(positions) or positions[index] >= sentence[1]:
            continue
        for match in _TRIGGER.finditer(text, sentence[0], sentence[1]):
            clause = _clause_bounds(text, sentence, match.start())
            if not found or found[-1][0] != clause:
                found.append((clause, sentence))
    return found
