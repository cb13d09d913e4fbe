"""Opaque keyset cursors: the values of the last row seen, base64url-encoded JSON.

A cursor comes back from clients, so each value is parsed strictly: anything this API
could not have produced is a 400, never a value passed on to the database.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from echo_ai.errors import AppError

MAX_INDEX = 2**31 - 1


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
