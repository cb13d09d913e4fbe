"""Text from outside: what a client may send, and what a vendor's answer may be stored as.

**Input.** Every string a request (or an experiment file, or the command line) gives us is
one of two kinds, declared with ``Annotated[str, SingleLine(max_length=...)]`` or
``Annotated[str, MultiLine(max_length=...)]``:

- :class:`SingleLine` -- names, emails, terms, tokens, model ids: no control character at
  all (tab, newline and carriage return included).
- :class:`MultiLine` -- prompts and descriptions: tab and newline are fine; a carriage
  return is read as a line end (``\\r\\n`` and a lone ``\\r`` become ``\\n``, so text pasted
  from Windows is accepted and stored one way); every other control character is refused.

Both are always bounded, so that nothing is stored that PostgreSQL would reject (NUL
above all: a 500 there, silently stored on SQLite) and nothing huge is echoed back.
"Control character" means Unicode category Cc (U+0000-U+001F, U+007F and U+0080-U+009F)
and the bidirectional controls (U+202A-U+202E, U+2066-U+2069), which reorder what a reader
sees ("Trojan Source": a name that displays as another); single-line text also refuses the
line and paragraph separators (U+2028, U+2029).
A refused string is a 422 naming the field, with the error type ``control_character``
and the code point and position of the first offending character, never the value.
(Lone surrogates, ``"\\ud800"`` in JSON, are not text: pydantic refuses them for any
``str``, error type ``string_unicode``.)

**Output of vendors.** Answers are stored whatever they contain: :func:`storable` replaces
what a database cannot hold (NUL, lone surrogates) by U+FFFD, one character for one, so
offsets into an answer (brand mentions, citations) stay right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

_BIDI = r"\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(rf"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
_CONTROL_BUT_TAB_NEWLINE = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_LINE_END = re.compile(r"\r\n?")

# The same rules for the OpenAPI schema (JSON Schema patterns are ECMA-262 regexes; lone
# surrogates cannot be written in one, and are refused all the same).
_SINGLE_LINE_PATTERN = rf"^[^\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]*$"
_MULTI_LINE_PATTERN = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]*$"

REPLACEMENT = "\ufffd"


def _check(value: str, control: re.Pattern[str]) -> str:
    found = control.search(value)
    if found is not None:
        raise PydanticCustomError(
            "control_character",
            "must not contain control characters (U+{code} at position {position})",
            {"code": f"{ord(found.group()):04X}", "position": found.start()},
        )
    return value


@dataclass(frozen=True)
class _Text:
    max_length: int
    min_length: int = 0

    _control: ClassVar[re.Pattern[str]] = _CONTROL
    _pattern: ClassVar[str] = _SINGLE_LINE_PATTERN

    def _schema(self) -> core_schema.CoreSchema:
        # Length first (cheap, and a huge string is refused as too long before it is
        # scanned), then the characters.
        bounded = core_schema.str_schema(
            min_length=self.min_length or None, max_length=self.max_length
        )
        control = self._control
        return core_schema.no_info_after_validator_function(
            lambda value: _check(value, control), bounded
        )

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return self._schema()

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self._pattern)  # a field's own pattern is stricter
        return json_schema


@dataclass(frozen=True)
class SingleLine(_Text):
    """One line of text, at most ``max_length`` characters: no control characters."""


@dataclass(frozen=True)
class MultiLine(_Text):
    """Text of several lines, at most ``max_length`` characters (counted once line ends are
    ``\\n``): tab and newline allowed, ``\\r\\n`` and ``\\r`` read as ``\\n``, no other
    control characters."""

    _control: ClassVar[re.Pattern[str]] = _CONTROL_BUT_TAB_NEWLINE
    _pattern: ClassVar[str] = _MULTI_LINE_PATTERN

    def _schema(self) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(_one_line_end, super()._schema())


def _one_line_end(value: Any) -> Any:
    return _LINE_END.sub("\n", value) if isinstance(value, str) else value


def storable(value: Any) -> Any:
    """``value`` (a string, or JSON-like lists and dicts of them) with what a database
    cannot store (NUL, lone surrogates) replaced by U+FFFD, keys included; one character
    for one, so offsets into the text stay valid. For text we did not check on the way
    in: vendors' answers, error messages, citations."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, tuple):
        return tuple(storable(item) for item in value)
    return value


def usd(value: float | Decimal) -> str:
    """Dollars: cents for amounts from a dollar up, more digits below (``$0.0042``),
    ``<$0.0001`` for a cost too small for four decimals but not nothing, and a leading
    minus sign for negative amounts (``−$2.00``)."""
    amount = float(value)
    if amount == 0:
        return "$0.00"
    size = abs(amount)
    if size < SMALLEST_USD:
        return "<$0.0001" if amount > 0 else ">−$0.0001"
    sign = "−" if amount < 0 else ""
    if size >= 1:
        return f"{sign}${size:,.2f}"
    if size < 0.01:
        return f"{sign}${size:.4f}".rstrip("0").rstrip(".")
    return f"{sign}${size:.2f}"


SMALLEST_USD = 0.0001
"""The smallest amount :func:`usd` writes in digits; below it (and above zero) the reader
sees ``<$0.0001``, not a misleading ``$0``."""


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell a spreadsheet will not run as a formula (CSV injection): text starting
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``;
    anything else is returned as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value
