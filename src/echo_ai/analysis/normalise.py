"""Text normalisation for matching, keeping a map back to the original offsets.

Answers and brand terms are compared in a normal form so that "ＨｕｂＳｐｏｔ", "HubSpot’s"
(curly apostrophe), "Zoho CRM" with a no-break space and "Societe Generale" without accents
all match what the user typed. Matching happens on the normalised text, but mentions must
point into the answer exactly as stored, so every normalised character remembers the span
of the original character it came from.

Two forms exist:

* *cased*: compatibility decomposition (NFKD), typographic apostrophes, dashes and spaces
  unified, accents (combining diacritical marks) removed. Used for case-sensitive terms:
  "Societe Generale" is still "Société Générale", "societe generale" is not.
* *folded*: the same, then Unicode case folding.
  Used for case-insensitive terms and exclude phrases.

Normalisation works character by character (a decomposition never spans characters), so
a term and the text around it normalise the same way whatever their context.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "\u2032": "'",
        "\uff07": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u202f": " ",
    }
)
_REPLACEMENTS = {chr(code): str(replacement) for code, replacement in _PUNCTUATION.items()}
_ASCII_RUN = re.compile(r"[\x00-\x7f]+")
# Accents dropped by folding: the combining diacritics of Latin, Greek and Cyrillic. Marks of
# other scripts (Indic viramas, Hebrew points) are kept: there they are spelling, not accents.
_ACCENTS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_ACCENT = re.compile(f"[{_ACCENTS}]")


def _unify_punctuation(text: str) -> str:
    """Like ``text.translate``, which is slow on long text, for the few characters present."""
    for char, replacement in _REPLACEMENTS.items():
        if char in text:
            text = text.replace(char, replacement)
    return text


@dataclass(frozen=True, slots=True)
class Normalised:
    """Normalised text; ``starts``/``ends`` give each character's original span (None: same)."""

    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a non-empty span of :attr:`text` back to the original text."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def _char_form(char: str, *, fold: bool) -> str:
    form = unicodedata.normalize("NFKD", char).translate(_PUNCTUATION)
    if not fold:
        return _ACCENT.sub("", form)
    return _ACCENT.sub("", unicodedata.normalize("NFKD", form.casefold()))


def _is_identity(text: str, *, fold: bool) -> tuple[bool, str]:
    """Fast path: when normalising changes no length, the offsets map one to one."""
    if text.isascii():
        return True, text.lower() if fold else text
    translated = _unify_punctuation(text)
    if not fold:
        same = unicodedata.is_normalized("NFKD", translated) and _ACCENT.search(translated) is None
        return same, translated
    folded = translated.casefold()
    same = (
        len(folded) == len(text)
        and unicodedata.is_normalized("NFKD", folded)
        and _ACCENT.search(folded) is None
    )
    return same, folded


def normalise(text: str, *, fold: bool) -> Normalised:
    """Normal form of ``text`` (see the module docstring) with its offset map."""
    identity, fast = _is_identity(text, fold=fold)
    if identity:
        return Normalised(fast)
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for run in _ASCII_RUN.finditer(text):
        _append_unicode(text, position, run.start(), fold, pieces, starts, ends)
        chunk = run.group()
        pieces.append(chunk.lower() if fold else chunk)
        starts.extend(range(run.start(), run.end()))
        ends.extend(range(run.start() + 1, run.end() + 1))
        position = run.end()
    _append_unicode(text, position, len(text), fold, pieces, starts, ends)
    return Normalised("".join(pieces), tuple(starts), tuple(ends))


def _append_unicode(
    text: str,
    start: int,
    end: int,
    fold: bool,
    pieces: list[str],
    starts: list[int],
    ends: list[int],
) -> None:
    for index in range(start, end):
        form = _char_form(text[index], fold=fold)
        pieces.append(form)
        starts.extend([index] * len(form))
        ends.extend([index + 1] * len(form))


def normalise_term(text: str, *, fold: bool) -> str:
    """A brand term or phrase in the same normal form as the text it is searched in."""
    return normalise(text, fold=fold).text
