"""One clear line on stderr and a non-zero exit for every expected failure; no traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from echo_ai.errors import AppError

if TYPE_CHECKING:
    from pydantic import ValidationError

P = ParamSpec("P")
R = TypeVar("R")

USAGE_ERROR = 2
FAILURE = 1


def describe_validation(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def fail(message: str, code: int) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def _explain(error: Exception) -> typer.Exit | None:
    """The exit for an expected failure; None for a bug (its traceback stays).

    The libraries whose errors are recognised are imported here, once something failed, so
    that starting a command (``--help`` above all) does not pay for them.
    """
    import pydantic
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from echo_ai.providers.base import ProviderError, ProviderNotConfigured

    if isinstance(error, pydantic.ValidationError):
        return fail(describe_validation(error), USAGE_ERROR)
    if isinstance(error, ValueError):
        return fail(str(error), USAGE_ERROR)
    if isinstance(error, AppError):
        return fail(error.message, USAGE_ERROR if error.status_code < 500 else FAILURE)
    if isinstance(error, ProviderNotConfigured):
        return fail(error.message, USAGE_ERROR)
    if isinstance(error, ProviderError):
        return fail(str(error), FAILURE)
    if isinstance(error, SQLAlchemyError):
        cause = getattr(error, "orig", None) or error
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        return fail(f"database error: {first_line}", FAILURE)
    if isinstance(error, CommandError):
        return fail(f"database migration: {error}", FAILURE)
    if isinstance(error, OSError):
        return fail(str(error), FAILURE)
    return None


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as error:
            explained = _explain(error)
            if explained is None:
                raise
            raise explained from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted: stored iterations are kept; resume with "
                "`echo-ai experiments resume ID`",
                130,
            ) from None

    return wrapper
