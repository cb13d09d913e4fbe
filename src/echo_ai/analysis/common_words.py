"""Whether a brand term is made of ordinary words, from the ``wordfreq`` frequency lists.

A brand term whose words are all ordinary words ("Notion", "Close", "Outlook", "Monday",
"New Balance") is matched only as written, so "the notion of" or "close the deal" do not
count as mentions; rarer names ("HubSpot", "Pipedrive") match in any case.

A word is ordinary when ``wordfreq`` gives it a Zipf frequency of at least
:data:`ZIPF_THRESHOLD` in one of :data:`LANGUAGES` (Zipf 3 is once per million words,
Zipf 2.9 about 0.8 per million). English is looked up in wordfreq's large list, which goes
down to Zipf 1; the other languages in the small lists, which stop at Zipf 3, so in them
the effective threshold is 3. The threshold sits just under "Obsidian" (2.95) and just
over "Salesforce" (2.85); docs/extraction.md gives the figures measured on the labelled
set.

``wordfreq`` takes about half a second to import and the lists add some 45 MB, so it is
imported on the first question (when an experiment's brands are compiled), never at
start-up, and every answer is cached.
"""

from __future__ import annotations

import re
from functools import lru_cache

ZIPF_THRESHOLD = 2.9
LANGUAGES: tuple[tuple[str, str], ...] = (
    ("en", "large"),
    ("de", "small"),
    ("fr", "small"),
    ("es", "small"),
    ("it", "small"),
    ("pt", "small"),
)
"""``(language, wordfreq list)`` pairs consulted, in order."""

_WORD_SPLIT = re.compile(r"[\s\-]+")
_PLAIN_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@lru_cache(maxsize=4096)
def zipf(word: str) -> float:
    """Highest Zipf frequency of ``word`` over :data:`LANGUAGES` (0 when unknown)."""
    from wordfreq import zipf_frequency  # slow to import: only when a brand set is compiled

    return max(zipf_frequency(word, language, wordlist) for language, wordlist in LANGUAGES)


def is_common_word(word: str) -> bool:
    """Whether one word (any case) is an ordinary word in one of :data:`LANGUAGES`."""
    folded = word.casefold()
    return _PLAIN_WORD.fullmatch(folded) is not None and zipf(folded) >= ZIPF_THRESHOLD


def is_common_phrase(text: str) -> bool:
    """Whether every word of ``text`` is an ordinary word.

    Words are split on whitespace and hyphens; anything else (a dot in "monday.com", a digit)
    makes a word uncommon, because such spellings only occur as names.
    """
    words = [word for word in _WORD_SPLIT.split(text) if word]
    return bool(words) and all(is_common_word(word) for word in words)
