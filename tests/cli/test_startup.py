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
from typing import get_args

import pytest

from echo_ai.cli.experiments import StatusName
from echo_ai.experiments.models import ExperimentStatus

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

result = CliRunner().invoke(app, json.loads(sys.argv[1]))
heavy = json.loads(sys.argv[2])
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
print(json.dumps({"code": result.exit_code, "output": result.output, "loaded": loaded}))
"""


def probe(args: list[str], *, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run the command in-process in a new interpreter; what it printed and imported."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    result: dict[str, object] = json.loads(completed.stdout)
    return result


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["experiments", "--help"],
        ["experiments", "list", "--help"],
        ["workspace-plan", "--help"],
        ["serve", "--help"],
        ["worker", "--help"],
    ],
    ids=" ".join,
)
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    result = probe(args)
    assert result["code"] == 0, result["output"]
    assert "Usage:" in str(result["output"])
    assert result["loaded"] == []


def test_the_status_choices_are_the_experiment_statuses() -> None:
    assert list(get_args(StatusName)) == [status.value for status in ExperimentStatus]


def test_a_migrated_embedded_database_is_opened_without_alembic(tmp_path: Path) -> None:
    env = {**os.environ, "ECHO_AI_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    first = probe(["experiments", "list", "--json"], env=env)
    assert first["code"] == 0, first["output"]
    assert "alembic" in first["loaded"]  # a new database is migrated
    again = probe(["experiments", "list", "--json"], env=env)
    assert again["code"] == 0, again["output"]
    assert json.loads(str(again["output"])) == []
    assert "alembic" not in again["loaded"]
    assert "sqlalchemy" in again["loaded"]  # the database was opened all the same
