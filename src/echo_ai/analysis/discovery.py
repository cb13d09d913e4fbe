"""Names an answer recommends that the experiment does not track: candidate competitors.

For each answer, :func:`candidates` finds the names it gives that are not tracked brands;
across the answers of a batch (or of several), :func:`tally` counts in how many answers
each name appears, with a Wilson interval, merging spellings ("Close.com's", "close.com").

Where a name is looked for, in order of the evidence the place gives:

* *structural leads*: the start of a list item before a separator ("1. **Attio** – a
  modern CRM", "- Insightly: ..."), a bold phrase (``**Keap**``), a markdown heading
  ("### 3. Hoka Clifton 9") and the first cell of a table's body row;
* *prose*: runs of capitalised words ("brands like Saucony Endorphin Speed 4"), not at the
  start of a sentence unless the run has several words.

A candidate is kept only if it reads as a name:

* it does not overlap a tracked brand's counted mention (nor a URL) and is not one of the
  tracked names or aliases;
* it has a *distinctive* word: one that is not an ordinary word by word frequency
  (:mod:`.common_words`), nor a generic term of the trade ("CRM", "Kanban", "APY"), nor an
  ordinary derivation ("Cushioning", "Onboarding", "Breathability"), nor written in lower
  case elsewhere in the same answer. Names made only of ordinary words ("Brooks",
  "Chase", "New Balance") are kept in two cases: a list whose other leads are mostly names
  (a list of products, not of features), a run of two or more capitalised words in the
  middle of a sentence, or a word listed together with a name ("Starling, Monzo and
  Tide");
* it is not the object of an admission of not knowing it ("I'm not familiar with Acme
  Flow"), by the rules of :mod:`.absence`.

Precision is preferred over recall: a competitor suggested wrongly costs the user's trust,
one missed still shows in the raw answers. docs/metrics.md gives the figures measured on
the labelled set (tests/analysis/data/discovery_labelled.json).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from echo_ai.analysis.absence import admissions
from echo_ai.analysis.common_words import is_common_word
from echo_ai.analysis.normalise import normalise_term

MAX_CANDIDATE_WORDS = 6
MAX_CANDIDATE_LENGTH = 60
MAX_CANDIDATES_PER_ANSWER = 40
"""A long answer naming more is cut to the first ones (bounded storage per answer)."""

# Generic terms of the trades assistants are asked about: written in capitals or capitalised
# in headings and bold leads, yet no one's brand.
_GENERIC_TERMS_WORDS = """
    ai api apis app apps apy apr ats atm atms b2b b2c cms cpa crm crms cx diy erp eu eva faq
    faqs fdic gdpr gps hipaa hr ios iso it kpi kpis llc mm mvp ncua okr okrs os pci pm pr
    roi saas sla smb smbs sme smes sms soc sso tpu ui uk us usa usd ux vs gantt kanban scrum
    agile neobank neobanks fintech fintechs midsole midsoles outsole outsoles upper uppers
    tl dr etc tldr q1 q2 q3 q4 wi-fi wifi
"""
GENERIC_TERMS = frozenset(_GENERIC_TERMS_WORDS.split())
GENERIC_PHRASES = frozenset(
    (
        "best for",
        "key features",
        "pros and cons",
        "bottom line",
        "final thoughts",
        "in summary",
        "quick comparison",
        "comparison table",
        "at a glance",
        "why it stands out",
        "who it's for",
        "free plan",
        "free trial",
        "starting price",
        "price range",
    )
)
# Endings of ordinary derived English words ("Cushioning", "Breathability", "Integrations").
_DERIVED = re.compile(
    r"(?:ings?|tions?|sions?|ities|ity|ness|ments?|ances?|ences?|ability|ibility|ships?"
    r"|ists?|isms?|ology|ware)$"
)
_GENERIC_LEADS_WORDS = """
    alternatives conclusion conclusions considerations cons features fees faq highlights
    notes options overview price prices pricing pros recommendation recommendations summary
    tips verdict warning caveats drawbacks downsides benefits why how what when where who
"""
GENERIC_LEADS = frozenset(_GENERIC_LEADS_WORDS.split())
"""Single words that head sections and list items of any answer ("### Conclusion")."""
_CORPORATE = frozenset(("inc", "llc", "ltd", "corp", "corporation", "co", "gmbh", "plc", "ag"))

_LIST_MARKER = re.compile(
    r"[ \t]*(?:>[ \t]*)?(?:(?P<heading>#{1,6})[ \t]+)?"
    r"(?:(?P<bullet>[-*+•●▪◦‣])[ \t]+)?"
    r"(?:[*_]{2})?(?:(?P<num>\d{1,3})[.)]|(?P<emoji>(?:[0-9]\ufe0f?\u20e3)+|[\U0001f947-\U0001f949\U0001f51f]))?"
    r"(?:[*_]{2})?[ \t]*"
)
_BOLD = re.compile(r"\*\*(?!\s)([^*\n]{1,80}?)(?<!\s)\*\*|__(?!\s)([^_\n]{1,80}?)(?<!\s)__")
# Where the name at the start of an item ends: a dash between spaces, a colon, an
# opening parenthesis, a comma, a sentence end, a bold mark, or a verb.
_LEAD_END = re.compile(
    r"\s+[-–—|]\s|\s*[:(\[,;]|[.!?](?:\s|$)|\*\*|__|\s+(?:is|are|was|offers|has|provides"
    r"|gives|lets|stands|shines|excels|remains|works|for|with|from|by|at|in|on|to|vs\.?)\s",
)
# One word of a name: capitalised, all capitals, camelCase ("iPhone", "eToro"), digits
# with letters ("N26", "1Password"), a version number after a name ("365", "9"), a dotted
# name ("monday.com", "Close.io").
_NAME_WORD = (
    r"(?:[A-Z0-9][\w'’.+&-]*[\w+]|[A-Z]|[a-z]+[A-Z][\w'’.+-]*[\w+]"
    r"|[a-z][\w-]*\.(?:com|io|ai|co|app))"
)
_RUN = re.compile(
    rf"(?<![\w@/.-]){_NAME_WORD}(?:[ \t]+(?:(?:&|of|de)[ \t]+)?{_NAME_WORD})*(?![\w@/])"
)
_JOINERS = frozenset(("&", "of", "de"))
_SENTENCE_BEFORE = re.compile(r"(?:^|[.!?:;|]|\n)[\s*_\"'“‘(\[>#-]*$")
_WORD = re.compile(r"[^\W_][\w'’.+-]*")
_LOWER_WORD = re.compile(r"(?<![\w'’])[a-z][a-z'’-]+(?![\w])")
# A name that starts a sentence shows it by what follows: "Attio is", "Keap offers".
_SUBJECT = re.compile(
    r"(?:['’]s\b|\s+(?:is|was|are|has|have|can|also|remains|offers|brings|lets|gives|provides"
    r"|stands|works|integrates|focuses|includes|supports|excels|shines|costs|makes|comes"
    r"|combines|targets|adds|charges|suits)\b)"
)
_TABLE_SEPARATOR = re.compile(r"\s*\|?\s*:?-{2,}")
_POSSESSIVE = re.compile(r"['’]s?$")
_EDGE = re.compile(r"^[\s*_\"'“‘`(\[]+|[\s*_\"'”’`)\],.:;!?]+$")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A name found in one answer: its spelling and place, and where it was found."""

    name: str
    start: int
    end: int
    structural: bool
    group: tuple[str, int, int] | None = None
    """The list the lead belongs to (kind, indent or heading level), for sibling evidence."""


@lru_cache(maxsize=65_536)
def candidate_key(name: str) -> str:
    """The spelling-independent key of a name: case, accents, possessive, "Inc" dropped."""
    words = normalise_term(_POSSESSIVE.sub("", name.strip()), fold=True).split()
    while len(words) > 1 and words[-1].rstrip(".,") in _CORPORATE:
        words.pop()
    return " ".join(word.rstrip(".,") for word in words)


def _clean(text: str, start: int) -> tuple[str, int] | None:
    """The candidate text without surrounding marks and possessive; its new start."""
    stripped = _EDGE.sub("", text)
    if not stripped:
        return None
    offset = text.find(stripped)
    return re.sub(r"['’]s$", "", stripped), start + offset


def _word_kind(word: str, lowered: frozenset[str]) -> str:
    """``distinctive``, ``common`` or ``generic`` (or ``number``) for one word of a
    candidate; ``lowered`` are the words the answer writes in lower case."""
    kind, bare = _kind_of(word)
    if kind == "plain":
        return "generic" if bare in lowered else "distinctive"
    return kind


@lru_cache(maxsize=65_536)
def _kind_of(word: str) -> tuple[str, str]:
    """The kind of a word whatever the answer (``plain``: distinctive unless the answer
    writes it in lower case too) and the word in lower case."""
    bare = word.strip("'’.").lower()
    if not any(char.isalpha() for char in bare):
        return "number", bare
    if bare in GENERIC_TERMS or bare in _JOINERS:
        return "generic", bare
    parts = [part for part in bare.split("-") if part]
    if all(is_common_word(part) or part.isdigit() for part in parts):
        return "common", bare
    if "." not in bare and not any(ch.isdigit() for ch in bare) and word[1:].islower():
        return ("generic" if len(bare) > 6 and _DERIVED.search(bare) else "plain"), bare
    return "distinctive", bare


class _Spans:
    """Sorted spans, asked whether a span overlaps one of them (bisect, not a scan)."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        self._spans = merged
        self._ends = [end for _, end in merged]

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self._ends, start)
        return index < len(self._spans) and self._spans[index][0] < end


def _leads(text: str) -> list[Candidate]:
    """Names at the start of list items, headings and table rows, and bold phrases."""
    found: list[Candidate] = []
    position = 0
    lines = text.split("\n")
    in_table = False
    block = 0  # a heading or a paragraph line starts a new list
    for index, raw in enumerate(lines):
        line_start = position
        position += len(raw) + 1
        stripped = raw.strip()
        if not stripped:
            in_table = False
            continue
        if stripped.startswith("|"):
            if _TABLE_SEPARATOR.match(stripped):
                in_table = True
                continue
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if in_table and not _TABLE_SEPARATOR.match(following):
                cell_start = raw.index("|") + 1
                cell_end = raw.find("|", cell_start)
                cell = raw[cell_start : cell_end if cell_end >= 0 else len(raw)]
                found.extend(_lead_of(cell, line_start + cell_start, ("table", 0, block)))
            continue
        in_table = False
        marker = _LIST_MARKER.match(raw)
        assert marker is not None  # every part is optional
        kind = None
        if marker["heading"] or (
            not marker["num"] and not marker["emoji"] and not marker["bullet"]
        ):
            block += not raw.startswith((" ", "\t"))
        if marker["heading"]:
            kind = "heading"
        elif marker["num"] or marker["emoji"]:
            kind = "number"
        elif marker["bullet"]:
            kind = "bullet"
        if kind is not None:
            level = len(marker["heading"]) if marker["heading"] else len(raw) - len(raw.lstrip())
            rest = raw[marker.end() :]
            group = (kind, level, 0 if kind == "heading" else block)
            found.extend(_lead_of(rest, line_start + marker.end(), group))
        for bold in _BOLD.finditer(raw):
            inner = 1 if bold.group(1) is not None else 2
            found.extend(_lead_of(bold.group(inner), line_start + bold.start(inner), None))
    return found


def _lead_of(text: str, start: int, group: tuple[str, int, int] | None) -> list[Candidate]:
    bold = _BOLD.match(text)
    if bold is not None:  # "**Attio** – a modern CRM": the bold phrase is the lead
        group_index = 1 if bold.group(1) is not None else 2
        text, start = bold.group(group_index), start + bold.start(group_index)
    end = _LEAD_END.search(text)
    lead = text[: end.start()] if end else text
    cleaned = _clean(lead, start)
    if cleaned is None:
        return []
    name, name_start = cleaned
    if len(name) > MAX_CANDIDATE_LENGTH or len(name.split()) > MAX_CANDIDATE_WORDS:
        return []
    return [Candidate(name, name_start, name_start + len(name), True, group)]


def _prose(text: str, taken: _Spans) -> list[Candidate]:
    found: list[Candidate] = []
    for run in _RUN.finditer(text):
        start, end = run.span()
        if taken.overlaps(start, end):
            continue
        words = run.group().split()
        while words and words[-1] in _JOINERS:
            words.pop()
        sentence_start = _SENTENCE_BEFORE.search(text, max(0, start - 6), start) is not None
        if sentence_start:
            # A capital at the start of a sentence is no evidence: "The", "Overall", "For".
            while words and (is_common_word(words[0]) or words[0] in _JOINERS):
                start += len(words[0])
                start = text.index(words[1], start) if len(words) > 1 else start
                words.pop(0)
            if len(words) < 2 and not (words and _SUBJECT.match(text, end)):
                continue
        if not words:
            continue
        name = " ".join(words)
        cleaned = _clean(text[start : start + len(name)], start) if name else None
        if cleaned is None or len(words) > MAX_CANDIDATE_WORDS:
            continue
        found.append(Candidate(cleaned[0], cleaned[1], cleaned[1] + len(cleaned[0]), False))
    return found


def candidates(
    text: str,
    *,
    tracked_spans: Sequence[tuple[int, int]],
    tracked_keys: frozenset[str],
    excluded_spans: Sequence[tuple[int, int]] = (),
) -> list[str]:
    """The untracked names an answer gives, each once (first spelling), in order.

    ``tracked_spans`` are the counted mentions of tracked brands (and any span a name must
    not overlap, such as URLs in ``excluded_spans``); ``tracked_keys`` the
    :func:`candidate_key` of every tracked name and alias.
    """
    if not text:
        return []
    blocked = _Spans([*tracked_spans, *excluded_spans])
    leads = _leads(text)
    found = leads + _prose(text, _Spans((c.start, c.end) for c in leads))
    lowered = frozenset(match.group() for match in _LOWER_WORD.finditer(text))
    named = _named_groups(leads, blocked, lowered, tracked_keys)
    kept: list[Candidate] = []
    doubtful: list[Candidate] = []
    for candidate in sorted(found, key=lambda c: c.start):
        if blocked.overlaps(candidate.start, candidate.end):
            continue
        key = candidate_key(candidate.name)
        if not key or key in GENERIC_PHRASES or key in GENERIC_LEADS:
            continue
        if key in tracked_keys or _part_of_tracked(key, tracked_keys):
            continue
        if _reads_as_name(candidate, lowered, named):
            kept.append(candidate)
        elif not candidate.structural and _kinds(candidate.name, lowered) == ["common"]:
            doubtful.append(candidate)
    if doubtful:
        kept = _coordinated(text, kept, doubtful, tracked_spans)
    if not kept:
        return []
    spans = [(c.start, c.end) for c in kept]
    spans_sorted = sorted(set(spans))
    admitted = {spans_sorted[a.match] for a in admissions(text, spans_sorted)}
    out: dict[str, str] = {}
    for candidate in kept:
        if (candidate.start, candidate.end) in admitted:
            continue
        out.setdefault(candidate_key(candidate.name), candidate.name)
        maker = _maker(candidate.name, lowered, tracked_keys)
        if maker is not None:
            out.setdefault(candidate_key(maker), maker)
        if len(out) >= MAX_CANDIDATES_PER_ANSWER:
            break
    return list(out.values())


_COORDINATION = re.compile(r"[ \t]*(?:,[ \t]*(?:(?:and|or)[ \t]+)?|[ \t]+(?:and|or|&)[ \t]+)")


def _coordinated(
    text: str,
    kept: list[Candidate],
    doubtful: Sequence[Candidate],
    tracked_spans: Sequence[tuple[int, int]],
) -> list[Candidate]:
    """``kept`` and the capitalised ordinary words listed together with a name ("Starling,
    Monzo and Tide", "Slack and Gmail"): a word in a list of names is a name."""
    for _ in range(2):  # a second pass follows a list along: "Attio, Close and Copper"
        names = sorted([*tracked_spans, *((c.start, c.end) for c in kept)])
        starts = [start for start, _ in names]
        added = False
        for candidate in doubtful:
            if candidate in kept:
                continue
            index = bisect.bisect_left(starts, candidate.start)
            before = names[index - 1] if index > 0 else None
            after = names[index] if index < len(names) else None
            if (
                before is not None and _COORDINATION.fullmatch(text, before[1], candidate.start)
            ) or (after is not None and _COORDINATION.fullmatch(text, candidate.end, after[0])):
                kept.append(candidate)
                added = True
        if not added:
            break
    return sorted(kept, key=lambda c: c.start)


def _maker(name: str, lowered: frozenset[str], tracked_keys: frozenset[str]) -> str | None:
    """The brand of a product named with it ("Mizuno" of "Mizuno Wave Rider 27"): the first
    word, when it is distinctive by itself."""
    words = name.split()
    if len(words) < 2 or _word_kind(words[0], lowered) != "distinctive":
        return None
    first = words[0].rstrip(".,")
    key = candidate_key(first)
    if key in tracked_keys or _part_of_tracked(key, tracked_keys) or key in GENERIC_LEADS:
        return None
    return first


def _part_of_tracked(key: str, tracked_keys: frozenset[str]) -> bool:
    """Whether the name is the first words of a tracked name ("Starling" of "Starling
    Bank"): an alias the user did not list, not another brand."""
    return any(tracked.startswith(key + " ") for tracked in tracked_keys)


def _kinds(name: str, lowered: frozenset[str]) -> list[str]:
    return [_word_kind(word, lowered) for word in _WORD.findall(name)]


def _named_groups(
    leads: Sequence[Candidate],
    blocked: _Spans,
    lowered: frozenset[str],
    tracked_keys: frozenset[str],
) -> frozenset[tuple[str, int, int]]:
    """Lists (by kind and level) whose leads are mostly names: tracked brands or
    distinctive candidates. Their other leads may be names made of ordinary words."""
    totals: Counter[tuple[str, int, int]] = Counter()
    names: Counter[tuple[str, int, int]] = Counter()
    for lead in leads:
        if lead.group is None:
            continue
        totals[lead.group] += 1
        tracked = blocked.overlaps(lead.start, lead.end)
        if (
            tracked
            or candidate_key(lead.name) in tracked_keys
            or "distinctive" in _kinds(lead.name, lowered)
        ):
            names[lead.group] += 1
    return frozenset(
        group for group, total in totals.items() if total >= 3 and names[group] * 2 >= total
    )


def _reads_as_name(
    candidate: Candidate, lowered: frozenset[str], named: frozenset[tuple[str, int, int]]
) -> bool:
    words = _WORD.findall(candidate.name)
    if not words or not any(char.isalpha() for char in candidate.name):
        return False
    first = candidate.name[0]
    camel = any(char.isupper() for char in words[0][1:])
    if not (first.isupper() or first.isdigit() or "." in words[0] or camel):
        return False  # a lower-case start: an ordinary phrase, not a name
    kinds = _kinds(candidate.name, lowered)
    if "distinctive" in kinds:
        return kinds[0] != "generic" or len(words) > 1
    if "generic" in kinds or len(words) > 3:
        return False
    if not all(word[0].isupper() or word in _JOINERS or word[0].isdigit() for word in words):
        return False
    if candidate.structural:
        return candidate.group is not None and candidate.group in named
    return len([word for word in words if word not in _JOINERS]) >= 2


@dataclass(frozen=True, slots=True)
class Tally:
    """A name counted over answers: in how many it appears, and its spellings (commonest
    first)."""

    key: str
    name: str
    answers: int
    spellings: tuple[str, ...]


def tally(per_answer: Iterable[Sequence[str]], *, limit: int) -> tuple[list[Tally], int]:
    """The ``limit`` names found in most answers, and the number of distinct names found.

    Each answer's names are distinct by key, as :func:`candidates` gives them, so counting
    spellings first (a C-speed ``Counter.update``) and merging them by key after counts
    each answer once per name, at a cost per distinct spelling rather than per mention.
    """
    by_spelling: Counter[str] = Counter()
    for names in per_answer:
        by_spelling.update(names)
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for name, count in by_spelling.items():
        key = candidate_key(name)
        if key:
            counts[key] += count
            spellings.setdefault(key, Counter())[name] += count
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        Tally(
            key=key,
            name=spellings[key].most_common(1)[0][0],
            answers=count,
            spellings=tuple(name for name, _ in spellings[key].most_common(5)),
        )
        for key, count in ranked
    ], len(counts)
