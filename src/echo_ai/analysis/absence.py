"""Admissions of not knowing a brand: recorded as absences, not counted as mentions.

"I couldn't find information about Acme CRM", "I don't have access to browse websites
like Acme CRM" or "Can you tell me more about Acme CRM?" name Acme CRM but are the opposite
of a recommendation, so counting them would inflate visibility exactly for unknown brands.
The extractor gives this module the spans of every brand match; it returns those that are
the object (or the subject) of such an admission. A brand named both in an admission and
anywhere else in the answer still counts, through its other matches.

Three kinds of statement are recognised, in English only (see docs/extraction.md):

* not knowing: "I'm not familiar with X", "I don't have specific details about X", "I have
  limited information on X", "I haven't heard of X", "X is not something I know", "X doesn't
  appear to be a widely known tool", "X may be a newer company", "my knowledge of X is
  limited", "X launched after my knowledge cutoff";
* not being able to look it up or describe it: "I can't browse websites like X", "I don't
  have access to X's website", "I am unable to provide a summary of X", "I couldn't find X";
* asking for information: "Can you tell me more about X?", "If you describe the focus of
  X...", "Please share what X does", "What is X?".

A brand is caught only where the statement is about it: in "I'm not familiar with Acme, but
HubSpot is a solid choice" HubSpot counts, and in "I couldn't find a cheaper CRM than
Pipedrive" Pipedrive counts. The words between the statement and the brand must be of the
kind that leads to an object ("any reliable information about", "a product called",
"websites like", "more about", "what"), a list of brands is followed through ("about Acme,
Globex or Initech"), and a brand that starts a new clause ("..., and HubSpot is") is not.

Assistants often hedge before recommending, so a hedge is no admission when it is about an
attribute of the brand ("I can't provide real-time pricing for X", "I can't speak to X's
enterprise tier") or when the sentence turns to praise or recommend the brand ("..., but
it's the best free CRM", "While I can't verify X's pricing, X is widely regarded as...");
"let me know which of X or Y fits" is a choice between brands, not a question about them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

_A = "['’]"
_NT = rf"(?:\s+not|n{_A}t)"
_SUBJ = r"\b(?:i|we)"
_BE_NOT = rf"(?:{_A}m\s+not|\s+am\s+not|{_A}re\s+not|\s+are\s+not|\s+was\s+not|\s+wasn{_A}t)"
_DO_NOT = rf"\s+(?:do|did){_NT}"
_INFO = (
    r"(?:information|info|details?|data|knowledge|records?|specifics|insights?|context"
    r"|background|visibility|mentions?|references?|documentation|coverage|reviews|news)"
)
_QUANT = (
    r"(?:(?:any|much|enough|specific|reliable|detailed|verified|verifiable|credible|public"
    r"|publicly|available|current|recent|up-to-date|updated|concrete|real-time|live|accurate"
    r"|solid|sufficient|comprehensive|in-depth|further|additional|firsthand|first-hand|direct"
    r"|official|more|the\s+latest|latest|clear|good|a\s+lot\s+of|a\s+great\s+deal\s+of),?\s+)*"
)
_CANT = (
    rf"(?:\s+can\s*not|\s+can{_A}t|\s+could{_NT}|{_A}m\s+unable\s+to|\s+am\s+unable\s+to"
    rf"|\s+(?:are|was|were)\s+unable\s+to|{_A}re\s+unable\s+to|{_A}m\s+not\s+able\s+to"
    rf"|\s+(?:am|are|was|were)\s+not\s+able\s+to|\s+wasn{_A}t\s+able\s+to"
    rf"|\s+(?:do|did){_NT}\s+have\s+(?:the\s+)?(?:ability|means|capability|tools?)\s+to"
    rf"|{_A}m\s+not\s+in\s+a\s+position\s+to|\s+am\s+not\s+in\s+a\s+position\s+to"
    r"|\s+lack\s+the\s+ability\s+to)"
)
_LOOK_UP = (
    r"(?:find|locate|identify|verify|confirm|access|browse|search(?:\s+for)?|look\s+up"
    r"|look\s+into|check|visit|open|retrieve|research|pull\s+up|fetch|read|review|provide"
    r"|give(?:\s+you)?|offer|share|summari[sz]e|describe|detail|tell\s+you|speak\s+to"
    r"|comment\s+on|evaluate|assess)"
)
# A request must lead to its object through a connector ("tell me more about X", "describe
# the focus of X", "share what X does"): "if you share Dropbox links" asks nothing about it.
_ASK = (
    r"(?:tell\s+me|share|provide|give\s+me|send(?:\s+me)?|explain|describe|clarify|elaborate"
    r"\s+on|let\s+me\s+know|outline|paste|point\s+me\s+to|summari[sz]e|specify|confirm)"
    r"(?=(?:\s+[^\W\d_]+){0,4}\s+(?:about|on|of|regarding|for|what|which|who|how|like|such"
    r"\s+as|called|named|behind)\b)"
)
_THING = (
    r"(?:products?|compan(?:y|ies)|brands?|tools?|services?|apps?|applications?|platforms?"
    r"|software|business(?:es)?|firms?|startups?|start-ups?|vendors?|providers?|players?"
    r"|solutions?|offerings?|names?|projects?|entit(?:y|ies)|organi[sz]ations?|options?"
    r"|retailers?|banks?|manufacturers?|makers?|labels?)"
)
_KNOWN = (
    r"(?:widely|well|commonly|generally|broadly|publicly)[- ]"
    r"(?:known|recogni[sz]ed|used|documented|established)"
)
_SMALL = (
    r"(?:new|newer|small|smaller|niche|lesser[- ]known|little[- ]known|local|regional"
    r"|private|privately[- ]held|obscure|emerging|early[- ]stage|stealth|hypothetical"
    r"|fictional|fictitious|made[- ]up|very\s+new|recently\s+launched|boutique|minor)"
)

# Statements followed by the brand: "I'm not familiar with X". Those of not knowing may
# also end the clause after it: "Acme, which I'm not familiar with, ...".
_KNOWING = [
    rf"{_SUBJ}{_BE_NOT}\s+(?:really\s+|entirely\s+|particularly\s+|very\s+|too\s+)?"
    r"(?:familiar\s+with|aware\s+of|sure\s+(?:what|who)|certain\s+(?:what|who))",
    rf"{_SUBJ}(?:{_A}m|\s+am|\s+was|{_A}re|\s+are)\s+(?:unfamiliar\s+with|unaware\s+of)",
    rf"{_SUBJ}{_DO_NOT}\s+(?:really\s+)?(?:know|recogni[sz]e|have\s+(?:any\s+)?(?:knowledge|"
    r"record)\s+of)",
    rf"{_SUBJ}{_DO_NOT}\s+have\s+{_QUANT}{_INFO}",
    rf"{_SUBJ}(?:\s+have|{_A}ve|\s+had)\s+(?:no|limited|little|only\s+limited|very\s+little"
    rf"|not\s+(?:got\s+)?(?:any|much))\s+{_QUANT}{_INFO}",
    rf"{_SUBJ}(?:\s+have\s+not|\s+haven{_A}t|\s+had\s+not|\s+hadn{_A}t|\s+have\s+never"
    rf"|{_A}ve\s+never|\s+never)\s+(?:heard\s+(?:of|about)|come\s+across|encountered|seen)",
    rf"\b(?:my|our)\s+(?:knowledge(?:\s+base)?|training\s+data|information|sources?|data)"
    rf"\s+(?:does|do){_NT}\s+(?:include|contain|cover|extend\s+to|mention)",
    rf"\bno\s+{_QUANT}(?:information|info|details|data|records?|mentions?)\s+(?:is\s+|are\s+)?"
    r"(?:available\s+)?(?:about|on|regarding|for|of)",
    rf"\bthere\s+(?:is|are|{_A}s)\s+no\s+(?:{_KNOWN}\s+|notable\s+|established\s+"
    rf"|prominent\s+|major\s+|such\s+)?{_THING}\s+(?:called|named|known\s+as|by\s+the\s+name)",
]
# Not being able to look it up or describe it.
_LOOKING = [
    rf"{_SUBJ}{_CANT}\s+(?:currently\s+|directly\s+|personally\s+|reliably\s+|accurately\s+)?"
    rf"{_LOOK_UP}",
    rf"{_SUBJ}(?:{_DO_NOT}\s+have|\s+have\s+no|{_A}ve\s+no|\s+lack)\s+(?:direct\s+"
    r"|real-time\s+|live\s+|internet\s+|web\s+|browsing\s+|any\s+)*(?:access|way)\s+to",
]
# Asking for information.
_REQUESTS = [
    rf"\b(?:can|could|would|will)\s+you\s+(?:please\s+)?{_ASK}",
    rf"\bif\s+you\s+(?:can\s+|could\s+)?(?:please\s+)?{_ASK}",
    rf"\bif\s+you\s+have\s+(?:any\s+)?(?:more|additional|further|other)\s+{_INFO}",
    r"\bplease\s+(?:share|provide|tell\s+me|describe|explain|clarify|send|let\s+me\s+know"
    r"|give\s+me|outline)",
    # Not "which": "let me know which of X or Y fits" asks the reader to choose between named
    # brands, it asks nothing about them.
    r"\b(?:let|tell)\s+me\s+(?:know\s+)?(?:a\s+bit\s+)?(?:more\s+)?(?:about|what|how)",
]
_NEEDS = [
    rf"{_SUBJ}(?:\s+would|{_A}d|\s+will)\s+need\s+(?:a\s+bit\s+)?(?:more|additional|further)"
    rf"\s+{_INFO}",
    rf"\b(?:without|with\s+no)\s+(?:more|further|additional|specific|detailed)\s+{_INFO}",
]
# Statements preceded by the brand: "X is not something I know".
_BACKWARD = [
    rf"\b(?:is|are|was){_NT}\s+(?:something|a\s+{_THING}|an\s+{_THING}|one)\s+(?:that\s+)?"
    rf"(?:i|we)(?:{_A}m|\s+am|\s+have|{_A}ve|\s+can)?\s+(?:really\s+)?(?:know|familiar|recogni[sz]e"
    r"|heard|aware|have\s+(?:information|details|data)|find)",
    rf"\b(?:does|do|did){_NT}\s+(?:appear|seem)\s+to\s+(?:be\s+)?(?:a\s+|an\s+)?(?:{_KNOWN}"
    r"|real|exist|established|notable|listed|documented|in\s+my|an?\s+(?:existing|real))",
    rf"\b(?:is|are){_NT}\s+(?:a\s+|an\s+)?{_KNOWN}",
    rf"\b(?:is|are){_NT}\s+(?:included\s+)?in\s+my\s+(?:training\s+data|knowledge|sources)",
    rf"\b(?:does|do){_NT}\s+ring\s+a\s+bell",
    r"\b(?:is|are)\s+(?:unknown|unfamiliar|new)\s+to\s+me",
    rf"\b(?:may|might|could)\s+be\s+(?:a\s+|an\s+)?(?:relatively\s+|fairly\s+|quite\s+)?{_SMALL}"
    rf"(?:\s+(?:or|and)\s+{_SMALL})?(?:\s+[^\W\d_]+)?\s+{_THING}",
    r"\b(?:after|beyond|outside|past)\s+(?:my|the)\s+(?:knowledge|training)(?:\s+(?:cut-?off"
    r"|cutoff|date|data|base))?",
]
# "What is X?" / "What does X do?": the brand is asked about.
_QUESTION = re.compile(
    r"(?:what|who)\s+(?:exactly\s+)?(?:is|are|does|do)\s+(?:the\s+)?$", re.IGNORECASE
)
_QUESTION_END = re.compile(
    r"\s*(?:exactly\s*)?(?:(?:do|offer|make|sell|provide|mean)\s*)?(?:exactly\s*)?\?",
    re.IGNORECASE,
)
# "My knowledge of X is limited."
_LIMITED_BEFORE = re.compile(
    r"\b(?:my|our)\s+(?:knowledge|information|understanding|data)\s+(?:of|about|on|regarding)"
    r"\s+(?:the\s+)?[*_\"'“‘]*$",
    re.IGNORECASE,
)
_LIMITED_AFTER = re.compile(
    rf"[*_\"'”’]*(?:{_A}s(?:\s+[^\W\d_]+){{0,3}})?\s+(?:is|remains)\s+(?:very\s+|quite\s+|rather\s+|fairly\s+)?"
    r"(?:limited|outdated)",
    re.IGNORECASE,
)


def _either(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns), re.IGNORECASE)


_KNOWING_RE = _either(_KNOWING)
_LOOKING_RE = _either(_LOOKING)
_REQUESTS_RE = _either(_REQUESTS)
_NEEDS_RE = _either(_NEEDS)
_BACKWARD_RE = _either(_BACKWARD)

_FILLER_WORDS = (
    "a an the any anything much more further additional some enough specific specifics "
    "detailed reliable verified verifiable accurate credible concrete current recent recently "
    "up-to-date updated latest real-time live public publicly available official direct "
    "information info details detail data knowledge records record mention mentions "
    "reference references listing listings documentation news reviews review context "
    "background insight insights summary overview description analysis breakdown assessment "
    "picture focus features feature offering offerings pricing plans plan products product "
    "services service company companies brand brands tool tools app apps application "
    "software platform platforms business firm startup vendor solution provider website "
    "websites site sites page pages homepage web internet online sources source external "
    "links link url urls called named known as like such including about on of regarding "
    "concerning for from related relating to at in into with what which who how bit little "
    "lot exactly precisely specifically this browse browsing search searching look up check "
    "visit open access retrieve read or and out me you details: e.g. i.e. specific good "
    "solid clear comprehensive in-depth firsthand first-hand main core key focus purpose "
    "goal goals mission target audience use case cases name term"
)
_FILLER_WORD = "|".join(
    re.escape(word) for word in sorted(set(_FILLER_WORDS.split()), key=len, reverse=True)
)
_OPEN_QUOTE = r"[*_\"'“‘`(\[]"
_SEPARATOR = r"[\s*_\"'“‘`(\[]"
_FILLER = re.compile(rf"{_SEPARATOR}*(?:(?:{_FILLER_WORD}){_SEPARATOR}+){{0,14}}", re.IGNORECASE)
_REQUEST_FILLER_WORD = "|".join(
    re.escape(word)
    for word in sorted(set(_FILLER_WORDS.split()) - {"which"}, key=len, reverse=True)
)
_REQUEST_FILLER = re.compile(
    rf"{_SEPARATOR}*(?:(?:{_REQUEST_FILLER_WORD}){_SEPARATOR}+){{0,14}}", re.IGNORECASE
)
# Not being able to look up an attribute of a brand ("I can't provide real-time pricing for
# X", "I can't speak to X's enterprise tier") is not an admission of not knowing the brand:
# assistants say it before recommending X. A product or tool "called X" still names X.
_ATTRIBUTE = (
    r"(?:pric(?:e|es|ing)|costs?|charges?|fees?|rates?|plans?|tiers?|editions?|packages?"
    r"|subscriptions?|licen[cs](?:e|es|ing)|features?|capabilit(?:y|ies)|integrations?"
    r"|limits?|quotas?|discounts?|figures|numbers|statistics|stats|metrics|reviews?|ratings?"
    r"|roadmap|releases?|updates?|versions?|changelog|terms|contracts?|availability|uptime"
    r"|(?:products?|services?|offerings?)(?!\s+(?:called|named|known|like|such|by)\b))"
)
_ATTRIBUTE_IN_PATH = re.compile(rf"\b{_ATTRIBUTE}\b", re.IGNORECASE)
_ATTRIBUTE_AFTER = re.compile(
    rf"[*_\"'”’`)\]]*{_A}s?\s+{_QUANT}(?:[^\W\d_]+\s+)?{_ATTRIBUTE}\b", re.IGNORECASE
)
_BARE_PATH = re.compile(rf"{_SEPARATOR}*(?:the{_SEPARATOR}+)?", re.IGNORECASE)
_COORDINATION = re.compile(
    rf"[*_\"'”’`)\]]*(?:{_A}s(?:\s+[^\W\d_]+){{0,3}})?[*_\"'”’`)\]]*\s*"
    rf"(?:,\s*(?:and\s+|or\s+|nor\s+)?|\s(?:and|or|nor|&)\s+|\s*/\s*)(?:the\s+)?{_OPEN_QUOTE}*",
    re.IGNORECASE,
)
_PREDICATE = re.compile(
    r"[*_\"'”’`)\]]*\s+(?:is|are|was|were|has|have|had|offers|provides|can|could|will|would"
    r"|remains|should|does|costs|works|lets|gives|also|still)\b",
    re.IGNORECASE,
)
_BACK_GAP = re.compile(
    rf"[*_\"'”’`)\]]*(?:{_A}s)?(?:\s+(?:itself|also|probably|likely|apparently|currently"
    r"|may|might|could|have|been|possibly"
    r"|simply|still|just|launched|released|founded|was\s+(?:launched|released|founded)"
    r"|came\s+out|appeared))*[*_\"'”’`)\]]*\s*",
    re.IGNORECASE,
)
_STRANDED = re.compile(r"\s*(?:about|on|of|with|regarding|for)?\s*(?:[.,;:!?)]|$)", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(
    r"[;:.!?]|\s[-–—]\s|\b(?:but|however|although|though|whereas|while|instead|so|because"
    r"|since)\b",
    re.IGNORECASE,
)
# A turn in the sentence after an admission: "but", "however", "though", or a comma
# ("While I can't verify X's pricing, X is...").
_TURN = re.compile(r"\b(?:but|however|though|although|yet|still)\b|[,;]", re.IGNORECASE)
_INTRO = re.compile(
    r"[\s,]*(?:(?:overall|honestly|frankly|still|even\s+so|that\s+said|in\s+general"
    r"|generally|personally|in\s+my\s+view|in\s+my\s+experience)\b[\s,]*)*",
    re.IGNORECASE,
)
_PRONOUN = re.compile(rf"(?:it|its|it{_A}s|they|they{_A}re|their)\b", re.IGNORECASE)
_OBJECT_PRONOUN = re.compile(r"(?:it|them)\b(?![’'])", re.IGNORECASE)
_OPENING = re.compile(rf"(?:the\s+)?{_OPEN_QUOTE}*", re.IGNORECASE)
_I_RECOMMEND = re.compile(
    rf"(?:i|we)(?:{_A}d|{_A}ll|\s+would|\s+will|\s+do|\s+can)?\s+(?:still\s+|definitely\s+"
    r"|strongly\s+|happily\s+|confidently\s+)?(?:recommend|suggest|choose|go\s+with"
    r"|vouch\s+for|endorse)\s+",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_PRAISE_REACH = 12
"""Most words between the brand and the word that praises it."""
_PRAISE_WORDS = (
    "best top excellent great strong strongest solid good leading popular ideal reliable "
    "favourite favorite recommend recommended standout regarded well-regarded rated "
    "highly-rated praised loved go-to pick choice winner outstanding superb powerful "
    "generous affordable easiest intuitive perfect leader robust respected trusted proven "
    "excels shines widely well-suited well-known safest"
)
_PRAISE = frozenset(_PRAISE_WORDS.split())
# Words that keep the clause a hedge: "but it may be a newer company", "but if it's a CRM".
_HEDGE_WORDS = (
    "if whether may might could not no never unsure unclear unknown sounds seems seem "
    "appears appear perhaps possibly maybe unless but"
)
_HEDGES = frozenset(_HEDGE_WORDS.split())
_STRANDED_REACH = 100
_REACH = 200
_SENTENCE_REACH = 400
"""Farthest a cue word is looked for from a brand match, in characters, either way."""

_SENTENCE_ENDS = ("\n", ". ", "! ", "? ", ".\t")
# Every statement of a family holds one of its cue words; looking for the cue words with
# ``str.find`` first keeps the (slow) expressions away from the vast majority of sentences.
_NEGATIONS = frozenset((" not", "n't", "n’t", "no ", "never"))
_KNOWING_CUES = _NEGATIONS | {"unfamiliar", "unaware", "limited"}
_LOOKING_CUES = _NEGATIONS | {"unable", "cannot", "lack"}
_REQUEST_CUES = frozenset(
    ("can you", "could you", "would you", "will you", "if you", "please", " me")
)
_NEED_CUES = frozenset(("need", "without", "with no"))
_BACKWARD_CUES = _NEGATIONS | {"unknown", "unfamiliar", " me", "be a", " my "}
_LIMITED_CUES = frozenset(("limited", "outdated"))
_CUES = tuple(
    _KNOWING_CUES
    | _LOOKING_CUES
    | _REQUEST_CUES
    | _NEED_CUES
    | _BACKWARD_CUES
    | _LIMITED_CUES
    | {"?"}
)
# Each family of statements followed by their object, with the words that may lead to it
# and whether a statement about an attribute of the brand is not about the brand.
_FORWARD_FAMILIES = [
    (_LOOKING_RE, _LOOKING_CUES, _FILLER, True),
    (_REQUESTS_RE, _REQUEST_CUES, _REQUEST_FILLER, False),
    (_NEEDS_RE, _NEED_CUES, _FILLER, False),
]


@dataclass(frozen=True, slots=True)
class Admission:
    """A brand match that is the object of an admission, and the sentence holding it."""

    match: int
    """Index of the match in the ``spans`` given to :func:`admissions`."""
    sentence: tuple[int, int]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentence_around(text: str, position: int) -> tuple[int, int]:
    """Span of the sentence holding ``position``, looked for at most :data:`_SENTENCE_REACH`
    characters either way (a statement is short); ``str`` searches beat a regex scan, and
    each one narrows the window of the next."""
    start = max(0, position - _SENTENCE_REACH)
    end = min(len(text), position + _SENTENCE_REACH)
    for marker in _SENTENCE_ENDS:
        found = text.rfind(marker, start, position)
        if found >= 0:
            start = found + len(marker)
        found = text.find(marker, position, end)
        if found >= 0:
            end = found + 1
    return _trimmed(text, start, end)


def _forward(
    text: str,
    cue_end: int,
    spans: Sequence[tuple[int, int]],
    members: Sequence[int],
    filler: re.Pattern[str] = _FILLER,
    *,
    attributes: bool = False,
) -> list[int]:
    """Matches that are the object of a statement ending at ``cue_end``; with
    ``attributes``, not those whose attribute the statement is about ("pricing for X",
    "X's enterprise tier")."""
    following = [index for index in members if spans[index][0] >= cue_end]
    if not following:
        return []
    first = following[0]
    if not filler.fullmatch(text, cue_end, spans[first][0]):
        return []
    if attributes and (
        _ATTRIBUTE_IN_PATH.search(text, cue_end, spans[first][0])
        or (
            _BARE_PATH.fullmatch(text, cue_end, spans[first][0])
            and _ATTRIBUTE_AFTER.match(text, spans[first][1])
        )
    ):
        return []
    found = [first]
    for index in following[1:]:
        previous_end = spans[found[-1]][1]
        if not _COORDINATION.fullmatch(text, previous_end, spans[index][0]):
            break
        if _PREDICATE.match(text, spans[index][1]):
            break
        found.append(index)
    return found


def _backward(
    text: str, cue_start: int, spans: Sequence[tuple[int, int]], members: Sequence[int]
) -> list[int]:
    """Matches that are the subject of a statement starting at ``cue_start``."""
    preceding = [index for index in members if spans[index][1] <= cue_start]
    if not preceding or not _BACK_GAP.fullmatch(text, spans[preceding[-1]][1], cue_start):
        return []
    found = [preceding[-1]]
    for index in reversed(preceding[:-1]):
        if not _COORDINATION.fullmatch(text, spans[index][1], spans[found[-1]][0]):
            break
        found.append(index)
    return found


def _unless_recommended(
    text: str, after: int, end: int, spans: Sequence[tuple[int, int]], objects: list[int]
) -> list[int]:
    """``objects``, unless the rest of the sentence turns to recommend them: "I can't
    provide real-time pricing for X, but it's the best free CRM", "While I can't verify
    X's pricing, X is widely regarded as...". A hedge that goes on to praise the brand is
    a recommendation, not an admission of not knowing it."""
    if not objects:
        return objects
    position = max(after, *(spans[index][1] for index in objects))
    names = {text[spans[index][0] : spans[index][1]].casefold() for index in objects}
    for turn in _TURN.finditer(text, position, end):
        if _recommends(text, turn.end(), end, spans, names):
            return []
    return objects


def _reference(
    text: str,
    position: int,
    spans: Sequence[tuple[int, int]],
    names: set[str],
    *,
    pronouns: bool = True,
) -> int | None:
    """End of a reference back to the brand ("it", "its", "they", its name) at ``position``."""
    pronoun = _PRONOUN.match(text, position) if pronouns else None
    if pronoun:
        return pronoun.end()
    quoted = _OPENING.match(text, position)
    position = quoted.end() if quoted else position
    for start, stop in spans:
        if start == position and text[start:stop].casefold() in names:
            return stop
    return None


def _recommends(
    text: str, position: int, end: int, spans: Sequence[tuple[int, int]], names: set[str]
) -> bool:
    """Whether the clause at ``position`` praises or recommends the brand (``names``)."""
    intro = _INTRO.match(text, position)
    position = intro.end() if intro else position
    verb = _I_RECOMMEND.match(text, position)
    if verb:
        # "I'd recommend it" or "... X", not "I'd suggest it's a newer company".
        return (
            bool(_OBJECT_PRONOUN.match(text, verb.end()))
            or _reference(text, verb.end(), spans, names, pronouns=False) is not None
        )
    subject_end = _reference(text, position, spans, names)
    if subject_end is None:
        return False
    others = {start for start, stop in spans if text[start:stop].casefold() not in names}
    for count, word in enumerate(_WORD.finditer(text, subject_end, end)):
        lowered = word.group().casefold()
        if (
            count >= _PRAISE_REACH
            or word.start() in others
            or lowered in _HEDGES
            or lowered.endswith(("n't", "n’t"))
        ):
            return False
        if lowered in _PRAISE:
            return True
    return False


def _stranded(
    text: str,
    cue_start: int,
    cue_end: int,
    spans: Sequence[tuple[int, int]],
    members: Sequence[int],
) -> list[int]:
    """ "Acme, which I'm not familiar with,": the statement ends the clause."""
    if not _STRANDED.match(text, cue_end):
        return []
    preceding = [index for index in members if spans[index][1] <= cue_start]
    if not preceding:
        return []
    last = preceding[-1]
    gap_start = spans[last][1]
    if cue_start - gap_start > _STRANDED_REACH or _CLAUSE_BREAK.search(text, gap_start, cue_start):
        return []
    return [last]


def _in_sentence(
    text: str,
    cues: set[str],
    sentence: tuple[int, int],
    spans: Sequence[tuple[int, int]],
    members: list[int],
) -> set[int]:
    """Matches among ``members`` that an admission in ``sentence`` is about; ``cues`` are
    the cue words the sentence holds, which say which expressions can match at all."""
    start, end = sentence
    found: set[int] = set()
    if not cues.isdisjoint(_KNOWING_CUES):
        for cue in _KNOWING_RE.finditer(text, start, end):
            objects = _forward(text, cue.end(), spans, members)
            objects = objects or _stranded(text, cue.start(), cue.end(), spans, members)
            found.update(_unless_recommended(text, cue.end(), end, spans, objects))
    for expression, family, filler, attributes in _FORWARD_FAMILIES:
        if not cues.isdisjoint(family):
            for cue in expression.finditer(text, start, end):
                objects = _forward(text, cue.end(), spans, members, filler, attributes=attributes)
                found.update(_unless_recommended(text, cue.end(), end, spans, objects))
    if not cues.isdisjoint(_BACKWARD_CUES):
        for cue in _BACKWARD_RE.finditer(text, start, end):
            objects = _backward(text, cue.start(), spans, members)
            found.update(_unless_recommended(text, cue.end(), end, spans, objects))
    asking = "?" in cues
    limited = not cues.isdisjoint(_LIMITED_CUES)
    if asking or limited:
        for index in members:
            match_start, match_end = spans[index]
            before = text[max(start, match_start - 60) : match_start]
            if (asking and _QUESTION.search(before) and _QUESTION_END.match(text, match_end)) or (
                limited and _LIMITED_BEFORE.search(before) and _LIMITED_AFTER.match(text, match_end)
            ):
                found.add(index)
    return found


def _lowered(text: str) -> str:
    """``text`` in lower case with the same offsets."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower-case to two ("İ"): keep offsets
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lowered


def _cue_sentences(
    text: str, lowered: str, starts: Sequence[int]
) -> dict[tuple[int, int], set[str]]:
    """The sentences holding a cue word near a brand match (``starts``), each with the cue
    words it holds."""
    positions: list[tuple[int, str]] = []
    for cue in _CUES:
        position = lowered.find(cue)
        while position >= 0:
            nearest = bisect.bisect_left(starts, position - _REACH)
            if nearest < len(starts) and starts[nearest] <= position + _REACH:
                positions.append((position, cue))
            position = lowered.find(cue, position + 1)
    if not positions:
        return {}
    positions.sort()
    sentences: dict[tuple[int, int], set[str]] = {}
    current = (-1, -1)
    for position, cue in positions:
        if not current[0] <= position < current[1]:
            current = _sentence_around(text, position + 1)
        sentences.setdefault(current, set()).add(cue)
    return sentences


def admissions(
    text: str, spans: Sequence[tuple[int, int]], *, lowered: str | None = None
) -> list[Admission]:
    """The brand matches (sorted, non-overlapping ``spans``) that are admissions.

    Only sentences holding both a cue word and a brand match are examined. ``lowered`` is
    the text in lower case with the same offsets, when the caller already has it.
    """
    if not spans:
        return []
    if lowered is None or len(lowered) != len(text):
        lowered = _lowered(text)
    starts = [start for start, _ in spans]
    found: list[Admission] = []
    for sentence, cues in sorted(_cue_sentences(text, lowered, starts).items()):
        first = bisect.bisect_left(starts, sentence[0])
        last = bisect.bisect_left(starts, sentence[1])
        if first == last:
            continue
        members = list(range(first, last))
        about = _in_sentence(text, cues, sentence, spans, members)
        found.extend(Admission(index, sentence) for index in sorted(about))
    found.sort(key=lambda admission: admission.match)
    return found
