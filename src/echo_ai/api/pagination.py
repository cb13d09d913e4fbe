"""Pages of a listing and their opaque keyset cursors.

Every paginated route answers a :class:`Page`: the items and a ``next_cursor``, the
values of the last row shown, base64url-encoded JSON (the services turn those values
into an index range with :func:`echo_ai.db.keyset_after`; never an offset).

A cursor comes back from clients, so each value is parsed strictly: anything this API
could not have produced is a 400, never a value passed on to the database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from echo_ai.errors import AppError
from echo_ai.text import SingleLine

MAX_INDEX = 2**31 - 1
MAX_CURSOR_LENGTH = 256
"""Ours are about 110 characters (a timestamp and an id, or an id and an index)."""

Cursor = Annotated[
    Annotated[str, SingleLine(max_length=MAX_CURSOR_LENGTH)] | None,
    Query(description="The `next_cursor` of the previous page; omit it for the first page."),
]

ItemT = TypeVar("ItemT")
RowT = TypeVar("RowT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None
    """Pass it back as ``cursor`` for the next page; ``null`` on the last page."""


def page_of(
    found: Sequence[RowT],
    limit: int,
    item: Callable[[RowT], ItemT],
    position: Callable[[RowT], Sequence[str]],
) -> Page[ItemT]:
    """The page of ``found``, a query's answer to ``limit + 1`` rows: the extra row only
    says that there is a next page, whose cursor is the ``position`` of the last row shown."""
    shown = found[:limit]
    cursor = encode_cursor(*position(shown[-1])) if len(found) > limit else None
    return Page(items=[item(row) for row in shown], next_cursor=cursor)


class InvalidCursor(AppError):
    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("the cursor is not one this API returned")


def encode_cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *parsers: Callable[[str], Any]) -> tuple[Any, ...]:
    """The values, each parsed by its parser; :class:`InvalidCursor` (400) if anything is off."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(parsers):
            raise InvalidCursor
        return tuple(parse(str(value)) for parse, value in zip(parsers, values, strict=True))
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise InvalidCursor from None


def aware_time(value: str) -> datetime:
    """A timestamp as this API writes them: timezone-aware and representable in UTC."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive timestamp")
    return moment.astimezone(UTC)


def row_index(value: str) -> int:
    """A non-negative index that fits the database's integer."""
    index = int(value)
    if not 0 <= index <= MAX_INDEX:
        raise ValueError("index out of range")
    return index
