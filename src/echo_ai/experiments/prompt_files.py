"""Prompts from a CSV file (columns ``prompt`` and optional ``topic``, header required) or
from lines of text (one prompt a line, ``topic: question`` to give a topic), with errors
that name the line."""

from __future__ import annotations

import csv
import io

from pydantic import ValidationError

from echo_ai.errors import AppError
from echo_ai.experiments.schemas import MAX_PROMPT_LENGTH
from echo_ai.experiments.tracker_schemas import (
    MAX_TOPIC_LENGTH,
    MAX_TRACKER_PROMPTS,
    TrackerPromptIn,
)

MAX_FILE_BYTES = 1_000_000


class BadPrompts(AppError):
    status_code = 422
    code = "bad_prompts"


def decode(data: bytes | str) -> str:
    """UTF-8 text of an uploaded file (a BOM is dropped), refused when too large or not UTF-8."""
    if isinstance(data, str):
        return data
    if len(data) > MAX_FILE_BYTES:
        raise BadPrompts(f"the file is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadPrompts(f"the file is not UTF-8 text (byte {error.start})") from None


def _item(line: int, prompt: str, topic: str | None) -> TrackerPromptIn:
    if len(prompt.strip()) > MAX_PROMPT_LENGTH:
        raise BadPrompts(f"line {line}: the prompt is longer than {MAX_PROMPT_LENGTH:,} characters")
    if topic is not None and len(topic.strip()) > MAX_TOPIC_LENGTH:
        raise BadPrompts(f"line {line}: the topic is longer than {MAX_TOPIC_LENGTH} characters")
    try:
        return TrackerPromptIn(prompt=prompt, topic=topic)
    except ValidationError as error:
        reason = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise BadPrompts(f"line {line}: {reason}") from None


def _finish(items: list[tuple[int, TrackerPromptIn]]) -> list[TrackerPromptIn]:
    if not items:
        raise BadPrompts("no prompts found")
    if len(items) > MAX_TRACKER_PROMPTS:
        raise BadPrompts(
            f"{len(items)} prompts: a tracker holds at most {MAX_TRACKER_PROMPTS} "
            f"(line {items[MAX_TRACKER_PROMPTS][0]} is the first too many)"
        )
    seen: dict[str, int] = {}
    for line, item in items:
        key = " ".join(item.prompt.casefold().split())
        if key in seen:
            raise BadPrompts(f"line {line}: the same prompt as line {seen[key]}")
        seen[key] = line
    return [item for _, item in items]


def from_csv(data: bytes | str) -> list[TrackerPromptIn]:
    """Prompts of a CSV file whose header names a ``prompt`` column (and optionally a
    ``topic`` one); blank rows are skipped."""
    text = decode(data)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise BadPrompts(f"not a readable CSV file: {error}") from None
    if not rows:
        raise BadPrompts("the file is empty: it needs a header line naming a 'prompt' column")
    header = [cell.strip().casefold() for cell in rows[0]]
    if "prompt" not in header:
        raise BadPrompts(
            "line 1: the header must name a 'prompt' column (and optionally 'topic'), "
            f"found {rows[0]!r}"
        )
    prompt_at = header.index("prompt")
    topic_at = header.index("topic") if "topic" in header else None
    items: list[tuple[int, TrackerPromptIn]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise BadPrompts(f"line {line}: {len(row)} columns where the header has {len(header)}")
        topic = row[topic_at] if topic_at is not None else None
        items.append((line, _item(line, row[prompt_at], topic)))
        if len(items) > MAX_TRACKER_PROMPTS:
            break
    return _finish(items)


def from_lines(text: str) -> list[TrackerPromptIn]:
    """One prompt a line; ``topic: question`` gives the prompt a topic when the part before
    the first colon is short (at most 40 characters, no question mark); blank lines are
    skipped."""
    items: list[tuple[int, TrackerPromptIn]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            continue
        topic: str | None = None
        head, colon, rest = stripped.partition(":")
        if (
            colon
            and rest.strip()
            and len(head) <= 40
            and "?" not in head
            and not rest.startswith("//")
        ):
            topic, stripped = head, rest
        items.append((line, _item(line, stripped, topic)))
        if len(items) > MAX_TRACKER_PROMPTS:
            break
    return _finish(items)
