"""`echo-ai trackers ...`: create from a CSV file, show, export, add prompts, list, delete."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echo_ai.cli import app
from echo_ai.experiments.tracker_export import COLUMNS

pytestmark = pytest.mark.usefixtures("cli_env")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_tracker_from_a_csv_file_runs_and_shows_pooled_figures(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text(
        "prompt,topic\nBest CRM for a startup?,startups\nCheapest CRM?,startups\n"
        "Which CRM do enterprises use?,enterprise\n",
        encoding="utf-8",
    )
    code, out, err = invoke(
        "trackers",
        "create",
        "CRM",
        "--prompts",
        str(prompts),
        "--brand",
        "HubSpot",
        "--competitor",
        "Salesforce",
        "--iterations",
        "5",
        "--json",
    )
    assert code == 0, err
    detail = json.loads(out)
    assert detail["name"] == "CRM" and detail["synthetic"] is True
    assert detail["overall"]["visibility"]["denominator"] == 15
    assert detail["overall"]["visibility"]["prompts"] == 3
    assert [g["topic"] for g in detail["by_topic"]] == ["enterprise", "startups"]
    assert all(p["status"] == "completed" for p in detail["prompt_results"])

    code, out, _ = invoke("trackers", "show", "CRM")
    assert code == 0 and "SYNTHETIC" in out and "clusters" in out and "startups" in out

    exported = tmp_path / "crm.csv"
    code, _, err = invoke("trackers", "export", "CRM", str(exported))
    assert code == 0 and "synthetic" in err and str(exported) in err
    with exported.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == COLUMNS
    overall = rows[0]
    assert (overall["level"], overall["metric"]) == ("overall", "visibility")
    assert int(overall["numerator"]) == detail["overall"]["visibility"]["numerator"]
    assert int(overall["denominator"]) == 15 and overall["synthetic"] == "True"
    assert sum(r["level"] == "prompt" for r in rows) == 3 * 4  # four rates per prompt
    as_json = tmp_path / "crm.json"
    assert invoke("trackers", "export", detail["id"][:8], str(as_json))[0] == 0
    document = json.loads(as_json.read_text(encoding="utf-8"))
    assert document["synthetic"] is True and len(document["items"]) == len(rows)
    code, _, err = invoke("trackers", "export", "nope", str(tmp_path / "x.csv"))
    assert code != 0 and "no tracker named 'nope'" in err

    more = tmp_path / "more.txt"
    more.write_text("pricing: Is HubSpot expensive?\n\nWhat CRM integrates with Gmail?\n")
    code, out, err = invoke(
        "trackers", "add-prompts", detail["id"][:8], "--prompts", str(more), "--json"
    )
    assert code == 0, err
    added = json.loads(out)
    assert added["prompts"] == 5 and "pricing" in added["topics"]

    code, out, _ = invoke("trackers", "list", "--json")
    assert [(t["name"], t["prompts"]) for t in json.loads(out)] == [("CRM", 5)]
    code, out, _ = invoke("trackers", "delete", "CRM", "--yes")
    assert code == 0 and "5 experiments" in out
    code, out, _ = invoke("experiments", "list", "--json")
    assert json.loads(out) == []


def test_a_bad_prompts_file_names_the_line(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text('prompt\nBest CRM?\n""\nbest crm?\n', encoding="utf-8")
    code, _, err = invoke(
        "trackers", "create", "CRM", "--prompts", str(prompts), "--brand", "HubSpot"
    )
    assert code != 0
    assert "line 4: the same prompt as line 2" in err
    code, out, _ = invoke("trackers", "list", "--json")
    assert json.loads(out) == []


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = invoke(
        "trackers", "create", "CRM", "--prompts", str(tmp_path / "nope.csv"), "--brand", "X"
    )
    assert code != 0 and "cannot read it" in err


def test_suggest_prints_synthetic_candidates_one_a_line() -> None:
    code, out, err = invoke(
        "trackers",
        "suggest",
        "--brand",
        "HubSpot",
        "--competitor",
        "Salesforce",
        "--category",
        "CRM software",
        "--count",
        "6",
    )
    assert code == 0, err
    assert "SYNTHETIC" in err
    lines = out.splitlines()
    assert len(lines) == 6 and all(line.endswith("?") for line in lines)
    code, out, _ = invoke("trackers", "suggest", "--brand", "HubSpot", "--json", "--count", "3")
    document = json.loads(out)
    assert document["synthetic"] is True and len(document["candidates"]) == 3
    code, _, err = invoke("trackers", "suggest", "--brand", "HubSpot", "--provider", "nope")
    assert code != 0 and "unknown provider" in err
