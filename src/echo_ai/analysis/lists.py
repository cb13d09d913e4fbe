"""Ranked items of an answer written as a list.

Assistants answer "best CRM for a startup" with numbered lists ("1.", "1)", "**1.**"),
emoji numbers ("1️⃣", with or without the variation selector, "🔟") or medals ("🥇 🥈 🥉"),
bullets ("-", "*", "•"), one markdown heading per product, or a markdown table with one
product per row. The rank of the item where a brand first appears is a sharper signal than
its order of appearance in the prose.

An answer often holds several list-like structures (criteria bullets, then a numbered list
of products, then sub-bullets with pros and cons, then a comparison table). The *primary*
structure is the first of these, in order, whose items contain a brand mention:

1. numbered headings ("### 1. HubSpot", "### 1️⃣ HubSpot"), when there are at least two;
2. numbered lines (digits, emoji numbers or medals) at the outermost indentation;
3. headings at one level, when at least two of them name a brand;
4. markdown tables: each body row is an item, ranked by row order (the header row and the
   ``|---|`` line are not items); the first table whose rows name a brand;
5. bullets at the outermost indentation.

An item runs from its line to the next item of the same structure. Nested lines, indented
paragraphs and lines directly under an item belong to it; an unindented paragraph after a
blank line (or a heading) ends the list, unless a numbered list resumes with the next
number, in which case the paragraph belonged to the previous item. Lazy markdown numbering
("1." on every line) counts 1, 2, 3...
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

# An emoji number: keycap digits ("1️⃣", "1⃣", "1️⃣0️⃣" for ten), the keycap ten, or a medal.
_EMOJI_NUMBER = "(?:(?:[0-9]\ufe0f?\u20e3)+|\U0001f51f|[\U0001f947-\U0001f949])"
_MEDALS = {"\U0001f947": 1, "\U0001f948": 2, "\U0001f949": 3, "\U0001f51f": 10}
_LINE = re.compile(
    rf"""
    (?P<indent>[ \t]*)
    (?:
        (?P<heading>\#{{1,6}})[ \t]+(?:[*_]{{1,2}})?
            (?:(?P<hnum>\d{{1,3}})[.)][ \t]+|(?P<hemoji>{_EMOJI_NUMBER})[.)]?[ \t]*)?
      | (?:[*_]{{2}})?(?P<num>\d{{1,3}})[.)](?:[*_]{{2}})?[ \t]+
      | (?:[-*+•][ \t]+)?(?:[*_]{{2}})?(?P<emoji>{_EMOJI_NUMBER})[.):]?(?:[*_]{{2}})?[ \t]*
      | (?P<bullet>[-*+•●▪◦‣])[ \t]+
    )?
    (?P<rest>.*)
    """,
    re.VERBOSE,
)
_LIST_HINT = re.compile(
    rf"^[ \t]*(?:#|\||[-*+•●▪◦‣][ \t]|(?:[*_]{{2}})?(?:\d{{1,3}}[.)]|{_EMOJI_NUMBER}))"
    r"|\|[ \t]*:?-",
    re.MULTILINE,
)
_TABLE_SEPARATOR = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")


class _Line(NamedTuple):
    start: int
    end: int
    indent: int
    kind: str  # "blank" | "text" | "heading" | "number" | "bullet"
    number: int | None = None
    level: int = 0


@dataclass(slots=True)
class ListItem:
    """One item of the primary list: its span in the answer and its 1-based rank."""

    start: int
    end: int
    rank: int


_MARKER_CHARS = frozenset("#-*+•●▪◦‣_0123456789\U0001f947\U0001f948\U0001f949\U0001f51f")


def _emoji_number(marker: str) -> int:
    if marker in _MEDALS:
        return _MEDALS[marker]
    return int("".join(char for char in marker if char.isdigit()))


def _parse(text: str) -> list[_Line]:
    lines: list[_Line] = []
    position = 0
    for raw in text.split("\n"):
        start, end = position, position + len(raw)
        position = end + 1
        stripped = raw.lstrip(" \t")
        if not stripped.strip():
            lines.append(_Line(start, end, 0, "blank"))
            continue
        indent = len(raw[: len(raw) - len(stripped)].expandtabs(4))
        match = _LINE.match(raw) if stripped[0] in _MARKER_CHARS else None
        if match is None or (not match["rest"].strip() and not match["heading"]):
            lines.append(_Line(start, end, indent, "text"))
        elif match["heading"]:
            number = int(match["hnum"]) if match["hnum"] else None
            if match["hemoji"]:
                number = _emoji_number(match["hemoji"])
            lines.append(_Line(start, end, indent, "heading", number, len(match["heading"])))
        elif match["num"]:
            lines.append(_Line(start, end, indent, "number", int(match["num"])))
        elif match["emoji"]:
            lines.append(_Line(start, end, indent, "number", _emoji_number(match["emoji"])))
        elif match["bullet"]:
            lines.append(_Line(start, end, indent, "bullet"))
        else:
            lines.append(_Line(start, end, indent, "text"))
    return lines


def _build(
    lines: Sequence[_Line],
    is_item: Callable[[_Line], bool],
    *,
    numbered: bool,
    heading_level: int | None,
    text_length: int,
) -> list[ListItem]:
    items: list[ListItem] = []
    open_item = False
    blank_before = False
    last_written = 0
    for line in lines:
        if is_item(line):
            rank = _rank(items, line, open_item, numbered=numbered, last_written=last_written)
            resumed = numbered and not open_item and bool(items) and rank == items[-1].rank + 1
            if open_item or resumed:
                items[-1].end = line.start
            items.append(ListItem(line.start, text_length, rank))
            last_written = line.number or 0
            open_item, blank_before = True, False
            continue
        if not open_item:
            continue
        if line.kind == "blank":
            blank_before = True
            continue
        if heading_level is not None:
            ends = line.kind == "heading" and line.level <= heading_level
        else:
            ends = line.kind == "heading" or (
                line.kind == "text" and line.indent == 0 and blank_before
            )
        if ends:
            items[-1].end = line.start
            open_item = False
        blank_before = False
    return items


def _rank(
    items: Sequence[ListItem], line: _Line, open_item: bool, *, numbered: bool, last_written: int
) -> int:
    if not items:
        return 1 if not numbered or line.number in (None, 0) else _written(line)
    previous = items[-1].rank
    if not numbered:
        return previous + 1 if open_item or line.kind == "heading" else 1
    if line.number == 1 and last_written == 1:
        return previous + 1  # lazy markdown numbering
    return _written(line)


def _written(line: _Line) -> int:
    return max(line.number or 1, 1)


def _has_mention(items: Sequence[ListItem], mention_starts: Sequence[int]) -> bool:
    for item in items:
        index = bisect.bisect_left(mention_starts, item.start)
        if index < len(mention_starts) and mention_starts[index] < item.end:
            return True
    return False


def list_items(text: str, mention_starts: Sequence[int]) -> list[ListItem]:
    """Items of the primary list (see the module docstring); empty when there is none.

    ``mention_starts`` are the sorted offsets of counted brand mentions.
    """
    if not mention_starts or not _LIST_HINT.search(text):
        return []
    lines = _parse(text)
    length = len(text)
    numbered_headings = [line for line in lines if line.kind == "heading" and line.number]
    if len(numbered_headings) >= 2:
        level = min(line.level for line in numbered_headings)
        items = _build(
            lines,
            lambda line: line.kind == "heading" and line.number is not None,
            numbered=True,
            heading_level=level,
            text_length=length,
        )
        if _has_mention(items, mention_starts):
            return items
    for kind in ("number", "heading", "table", "bullet"):
        if kind == "table":
            items = _table_rows(text, lines, mention_starts)
        else:
            items = _structure(lines, kind, mention_starts, length)
        if items:
            return items
    return []


def _table_rows(text: str, lines: Sequence[_Line], mention_starts: Sequence[int]) -> list[ListItem]:
    """Body rows of the first markdown table whose rows name a brand, ranked by row order.

    A table is a header line holding a ``|``, a separator line (``|---|:---:|``) and the
    following lines that hold a ``|``; the header row is not an item.
    """
    if "|" not in text:
        return []
    index = 1
    while index < len(lines):
        line = lines[index]
        header = lines[index - 1]
        if (
            line.kind == "text"
            and "|" in text[header.start : header.end]
            and "|" in text[line.start : line.end]
            and _TABLE_SEPARATOR.fullmatch(text, line.start, line.end)
        ):
            rows: list[ListItem] = []
            index += 1
            while index < len(lines) and "|" in text[lines[index].start : lines[index].end]:
                rows.append(ListItem(lines[index].start, lines[index].end, len(rows) + 1))
                index += 1
            if _has_mention(rows, mention_starts):
                return rows
        index += 1
    return []


def _structure(
    lines: Sequence[_Line], kind: str, mention_starts: Sequence[int], length: int
) -> list[ListItem]:
    if kind == "heading":
        for level in sorted({line.level for line in lines if line.kind == "heading"}):
            at_level = [line for line in lines if line.kind == "heading" and line.level == level]
            naming = sum(
                any(line.start <= start < line.end for start in mention_starts) for line in at_level
            )
            if naming >= 2:

                def at(line: _Line, level: int = level) -> bool:
                    return line.kind == "heading" and line.level == level

                return _build(
                    lines,
                    at,
                    numbered=False,
                    heading_level=level,
                    text_length=length,
                )
        return []
    candidates = [line for line in lines if line.kind == kind]
    if not candidates:
        return []
    indent = min(line.indent for line in candidates)
    items = _build(
        lines,
        lambda line: line.kind == kind and line.indent == indent,
        numbered=kind == "number",
        heading_level=None,
        text_length=length,
    )
    return items if _has_mention(items, mention_starts) else []
