"""One clear line on stderr and a non-zero exit for every expected failure; no traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from echo_ai.errors import AppError
from echo_ai.providers.base import ProviderError, ProviderNotConfigured

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


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ValidationError as error:
            raise fail(describe_validation(error), USAGE_ERROR) from None
        except ValueError as error:
            raise fail(str(error), USAGE_ERROR) from None
        except AppError as error:
            raise fail(error.message, USAGE_ERROR if error.status_code < 500 else FAILURE) from None
        except ProviderNotConfigured as error:
            raise fail(error.message, USAGE_ERROR) from None
        except ProviderError as error:
            raise fail(str(error), FAILURE) from None
        except SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
            raise fail(f"database error: {first_line}", FAILURE) from None
        except CommandError as error:
            raise fail(f"database migration: {error}", FAILURE) from None
        except OSError as error:
            raise fail(str(error), FAILURE) from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted: stored iterations are kept; resume with "
                "`echo-ai experiments resume ID`",
                130,
            ) from None

    return wrapper
