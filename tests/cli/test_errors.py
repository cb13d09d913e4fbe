"""Every expected failure of a command is one line on stderr and an exit code; a bug is not."""

from __future__ import annotations

import pytest
import typer
from alembic.util import CommandError
from sqlalchemy.exc import OperationalError

from echo_ai.cli.errors import FAILURE, USAGE_ERROR, friendly_errors
from echo_ai.errors import AppError, NotFound
from echo_ai.providers.base import ProviderError


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (ValueError("bad value"), USAGE_ERROR, "error: bad value"),
        (NotFound("no experiment with id 'x'"), USAGE_ERROR, "error: no experiment with id 'x'"),
        (ProviderError("quota exceeded"), FAILURE, "error: provider_error: quota exceeded"),
        (
            OperationalError("SELECT 1", {}, Exception("database is locked\nmore")),
            FAILURE,
            "error: database error: database is locked",
        ),
        (CommandError("Can't locate revision"), FAILURE, "error: database migration: Can't"),
        (PermissionError("out.csv: permission denied"), FAILURE, "error: out.csv: permission"),
        (KeyboardInterrupt(), 130, "error: interrupted: stored iterations are kept"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_an_expected_failure_is_one_line_and_an_exit_code(
    error: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @friendly_errors
    def command() -> None:
        raise error

    with pytest.raises(typer.Exit) as exit_info:
        command()
    assert exit_info.value.exit_code == code
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_a_server_side_app_error_is_a_failure_not_a_usage_error() -> None:
    class Unavailable(AppError):
        status_code = 503

    @friendly_errors
    def command() -> None:
        raise Unavailable("try later")

    with pytest.raises(typer.Exit) as exit_info:
        command()
    assert exit_info.value.exit_code == FAILURE


def test_a_bug_keeps_its_traceback() -> None:
    @friendly_errors
    def command() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        command()
