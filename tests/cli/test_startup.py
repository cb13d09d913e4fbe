"""Building the command line stays light: ``--help`` loads no database, SDK or server.

Each check runs in a fresh interpreter, since this test process has imported everything.
The CPU time itself is measured by ``bench/bench_startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import typer.main

from echo_ai.cli import app
from echo_ai.cli.experiments import StatusName
from echo_ai.cli.main import RoleName
from echo_ai.runs.models import ExperimentStatus
from echo_ai.workspaces.models import Role

HEAVY = (
    "sqlalchemy",
    "alembic",
    "numpy",
    "openai",
    "anthropic",
    "google.genai",
    "celery",
    "kombu",
    "redis",
    "sentry_sdk",
    "opentelemetry",
    "fastapi",
    "starlette",
    "uvicorn",
    "structlog",
    "prometheus_client",
    "aiohttp",
    "httpx",
)

PROBE = """
import json, sys
from typer.testing import CliRunner
from echo_ai.cli import app

runs = [CliRunner().invoke(app, args) for args in json.loads(sys.argv[1])]
heavy = json.loads(sys.argv[2])
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
print(json.dumps({
    "codes": [run.exit_code for run in runs],
    "outputs": [run.output for run in runs],
    "loaded": loaded,
}))
"""


def probe(*commands: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the commands in-process in a new interpreter: their exit codes and output, and
    the heavy modules loaded once they have all run."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command of the line, groups included: ``[], ["run"], ["experiments", "list"]...``."""
    paths = [list(prefix)]
    for name, sub in getattr(command, "commands", {}).items():  # a group's subcommands
        paths += command_paths(sub, (*prefix, name))
    return paths


def test_help_imports_no_heavy_library() -> None:
    result = probe(["--help"])
    assert result["codes"] == [0], result["outputs"]
    assert "Usage:" in result["outputs"][0]
    assert result["loaded"] == []


def test_no_command_help_imports_a_heavy_library() -> None:
    paths = command_paths(typer.main.get_command(app))
    assert ["run"] in paths and ["experiments", "list"] in paths and ["worker"] in paths
    result = probe(*[[*path, "--help"] for path in paths])
    assert result["codes"] == [0] * len(paths), result["outputs"]
    assert all("Usage:" in output for output in result["outputs"])
    assert result["loaded"] == []


def test_the_status_choices_are_the_experiment_statuses() -> None:
    assert list(get_args(StatusName)) == [status.value for status in ExperimentStatus]


def test_the_role_choices_are_the_workspace_roles() -> None:
    assert list(get_args(RoleName)) == [role.value for role in Role]


@pytest.mark.long
def test_a_migrated_embedded_database_is_opened_without_alembic(tmp_path: Path) -> None:
    env = {**os.environ, "ECHO_AI_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    first = probe(["experiments", "list", "--json"], env=env)
    assert first["codes"] == [0], first["outputs"]
    assert "alembic" in first["loaded"]  # a new database is migrated
    again = probe(["experiments", "list", "--json"], env=env)
    assert again["codes"] == [0], again["outputs"]
    assert json.loads(again["outputs"][0]) == []
    assert "alembic" not in again["loaded"]
    assert "sqlalchemy" in again["loaded"]  # the database was opened all the same
