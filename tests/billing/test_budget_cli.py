"""``echo-ai budget`` and ``echo-ai costs`` on the command line's local workspace (or
another with ``--workspace``): amounts checked with a one-line error, the report read
from the spend lines of a real (demo) run, as a table, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import typing
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echo_ai.billing.spend_schemas import GroupBy
from echo_ai.cli import app as cli
from echo_ai.cli.costs import GroupName
from echo_ai.metering.units import month_of


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_grouping_choices_are_the_report_groupings() -> None:
    assert typing.get_args(GroupName) == typing.get_args(GroupBy)


@pytest.mark.usefixtures("cli_env")
def test_budget_set_show_clear_and_bad_amounts() -> None:
    code, out, err = invoke("budget", "show")
    assert code == 0, err
    assert "no monthly budget" in out

    code, out, err = invoke("budget", "set", "$1,250.5")
    assert code == 0, err
    assert "budget $1250.50 a month: $1250.50 left (0.0% used)" in out

    for amount, message in [
        ("-5", "more than $0"),
        ("0", "more than $0"),
        ("fifty", "must be a number of US dollars"),
        ("10.123", "at most 2 decimal places"),
        ("2000000", "at most $1,000,000"),
        ("NaN", "must be a number of US dollars"),
    ]:
        code, out, err = invoke("budget", "set", "--", amount)
        assert code == 2, (amount, out)
        assert err.startswith("error: ") and message in err, (amount, err)

    code, out, err = invoke("budget", "show", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["monthly_usd"] == "1250.50" and shown["month"] == month_of(datetime.now(UTC))

    code, out, err = invoke("budget", "clear")
    assert (code, out.strip()) == (0, "the monthly budget was removed"), err
    code, out, err = invoke("budget", "clear")
    assert (code, out.strip()) == (0, "there was no monthly budget"), err
    assert json.loads(invoke("budget", "show", "--json")[1])["monthly_usd"] is None

    missing = str(uuid.uuid4())
    code, out, err = invoke("budget", "set", "10", "--workspace", missing)
    assert code == 2 and f"no workspace with id {missing}" in err


def test_experiment_cap_and_costs_of_a_demo_run(cli_env: Path) -> None:
    code, out, err = invoke(
        "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--iterations", "6", "--json"
    )
    assert code == 0, err
    experiment_id = json.loads(out)["id"]

    code, out, err = invoke("budget", "experiment", experiment_id[:8], "3.5")
    assert code == 0, err
    assert f"experiment {experiment_id[:8]}" in out and "$3.50 a month at most" in out
    code, out, err = invoke("budget", "experiment", experiment_id[:8], "0")
    assert code == 2 and "more than $0" in err
    code, out, err = invoke("budget", "experiment", experiment_id, "3", "--clear")
    assert code == 2 and "either an AMOUNT or --clear" in err
    code, out, err = invoke("budget", "experiment", experiment_id)
    assert code == 2 and "either an AMOUNT or --clear" in err
    code, out, err = invoke("budget", "experiment", experiment_id, "--clear")
    assert code == 0 and "has no cap of its own" in out, err
    code, out, err = invoke("budget", "experiment", "ffffffff", "5")
    assert code == 2 and err.startswith("error: ")

    this = month_of(datetime.now(UTC))
    code, out, err = invoke("costs", "--json", "--by", "provider")
    assert code == 0, err
    report = json.loads(out)
    assert (report["from_month"], report["to_month"], report["iterations"]) == (this, this, 6)
    [line] = report["lines"]
    assert line["key"].startswith("demo:") and line["synthetic"] == "yes"
    assert (line["iterations"], line["cost_usd"]) == (6, "0.00")

    code, out, err = invoke("costs", "--csv", "--by", "experiment", "--from", this, "--to", this)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["experiment_id"], r["iterations"], r["cost_usd"], r["synthetic"]) for r in rows] == [
        (experiment_id, "6", "0.00", "yes")
    ]

    code, out, err = invoke("costs")
    assert code == 0, err
    assert this in out and "total" in out

    for args, message in [
        (("--from", "2026-13"), "from must be a month as YYYY-MM"),
        (("--from", "2026-05", "--to", "2026-04"), "is after to"),
        (("--from", "2020-01", "--to", "2026-01"), "at most 36 months"),
    ]:
        code, out, err = invoke("costs", *args)
        assert code == 2 and message in err, (args, err)
