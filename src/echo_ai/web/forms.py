"""Page forms: read a submitted form, validate it with the API's own schemas, and show
what is wrong beside each field (``{field: message}``), keeping what was typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from echo_ai.errors import AppError

M = TypeVar("M", bound=BaseModel)

FORM_ERROR = "form"
"""The key of an error that belongs to no one field (shown above the form)."""


async def form_fields(request: Request) -> dict[str, str]:
    """Single-valued fields (the last value of a repeated one), without the CSRF token."""
    form = await request.form()
    return {
        key: value for key, value in form.items() if isinstance(value, str) and key != "csrf_token"
    }


async def form_lists(request: Request, *names: str) -> dict[str, list[str]]:
    """Repeated fields (checkboxes, multi-selects) as lists, empty values dropped."""
    form = await request.form()
    return {
        name: [value for value in form.getlist(name) if isinstance(value, str) and value]
        for name in names
    }


def _count(count: object, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _length(ctx: dict[str, Any], bound: str, key: str, one: str, many: str) -> str:
    return f"{bound} {_count(ctx.get(key), one, many)}."


Said = Callable[[dict[str, Any]], str]

_SAID: dict[str, Said] = {
    "missing": lambda ctx: "Required.",
    "string_too_short": lambda ctx: (
        "Required."
        if ctx.get("min_length") == 1
        else _length(ctx, "At least", "min_length", "character", "characters")
    ),
    "string_too_long": lambda ctx: _length(ctx, "At most", "max_length", "character", "characters"),
    "too_short": lambda ctx: _length(ctx, "At least", "min_length", "entry", "entries"),
    "too_long": lambda ctx: _length(ctx, "At most", "max_length", "entry", "entries"),
    "greater_than_equal": lambda ctx: f"At least {ctx.get('ge')}.",
    "greater_than": lambda ctx: f"More than {ctx.get('gt')}.",
    "less_than_equal": lambda ctx: f"At most {ctx.get('le')}.",
    "less_than": lambda ctx: f"Less than {ctx.get('lt')}.",
    "int_parsing": lambda ctx: "Enter a whole number.",
    "int_type": lambda ctx: "Enter a whole number.",
    "int_from_float": lambda ctx: "Enter a whole number.",
    "float_parsing": lambda ctx: "Enter a number.",
    "float_type": lambda ctx: "Enter a number.",
    "finite_number": lambda ctx: "Enter a number.",
    "bool_parsing": lambda ctx: "Choose yes or no.",
    "bool_type": lambda ctx: "Choose yes or no.",
    "uuid_parsing": lambda ctx: "Choose one from the list.",
    "enum": lambda ctx: f"Choose one of {ctx.get('expected')}.",
    "literal_error": lambda ctx: f"Choose one of {ctx.get('expected')}.",
}
"""Pydantic's messages in the words of a form (the API keeps pydantic's own); messages of
our validators (``value_error``) are already written for people and are kept."""


def field_errors(error: ValidationError) -> dict[str, str]:
    """The first message per field, by dotted path (``brands.0.name``)."""
    errors: dict[str, str] = {}
    for item in error.errors():
        field = ".".join(str(part) for part in item.get("loc", ())) or FORM_ERROR
        said = _SAID.get(str(item.get("type", "")))
        message = (
            said(item.get("ctx") or {})
            if said is not None
            else str(item.get("msg", "invalid")).removeprefix("Value error, ")
        )
        errors.setdefault(field, message)
    return errors


def validate(model: type[M], data: dict[str, Any]) -> M | dict[str, str]:
    """The validated model, or the errors to show beside the fields."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        return field_errors(error)


def retry_message(error: AppError) -> str:
    """A rate-limit refusal said in words, with when to try again."""
    seconds = int(dict(error.headers).get("Retry-After", "0") or 0)
    if seconds <= 0:
        return "Too many attempts. Try again in a moment."
    if seconds < 90:
        wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = -(-seconds // 60)
        wait = f"{minutes} minutes"
    return f"Too many attempts. Try again in {wait}."


def local_path(value: str | None, default: str = "/") -> str:
    """A redirect target from a form or query: only a path of this site (no open
    redirect to ``//elsewhere`` or ``https://elsewhere``)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(char) < 0x20 for char in value):
        return default
    return value
