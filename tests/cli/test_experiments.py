"""`echo-ai experiments ...` and `echo-ai providers`."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echo_ai.cli import app
from echo_ai.config import get_settings
from echo_ai.testing.fake_llm import FakeLLMServer

pytestmark = pytest.mark.usefixtures("cli_env")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _run_demo(iterations: int = 20) -> dict[str, object]:
    code, out, err = invoke(
        "run",
        "--prompt",
        "Best CRM?",
        "--brand",
        "HubSpot",
        "--competitor",
        "Salesforce",
        "--competitor",
        "Pipedrive",
        "--iterations",
        str(iterations),
        "--json",
    )
    assert code == 0, err
    document: dict[str, object] = json.loads(out)
    return document


def test_list_and_show_by_id_prefix() -> None:
    document = _run_demo()
    experiment_id = str(document["id"])
    code, out, _ = invoke("experiments", "list")
    assert code == 0 and experiment_id[:8] in out and "(synthetic)" in out
    code, out, _ = invoke("experiments", "list", "--json")
    assert json.loads(out)[0]["id"] == experiment_id
    code, out, _ = invoke("experiments", "show", experiment_id[:8], "--json")
    assert code == 0 and json.loads(out)["id"] == experiment_id
    code, out, _ = invoke("experiments", "show", experiment_id)
    assert code == 0 and "visibility rate" in out


def test_list_filters_by_status() -> None:
    experiment_id = str(_run_demo(5)["id"])
    code, out, _ = invoke("experiments", "list", "--status", "completed", "--json")
    assert code == 0 and [e["id"] for e in json.loads(out)] == [experiment_id]
    code, out, _ = invoke("experiments", "list", "--status", "failed", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = invoke("experiments", "list", "--status", "done")
    assert code == 2 and "'done' is not one of" in err


def test_a_partial_experiment_is_listed_as_such_and_resume_runs_its_failed_provider(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake_llm.config.quota_exhausted = True
    code, out, err = invoke(
        "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--competitor", "Salesforce",
        "--provider", "demo", "--provider", "openai:gpt-4o-mini", "--iterations", "10", "--json",
    )  # fmt: skip
    assert code == 1, err
    experiment_id = json.loads(out)["id"]
    code, out, _ = invoke("experiments", "list")
    assert code == 0 and "partial" in out and "(failed)" in out
    code, out, _ = invoke("experiments", "list", "--status", "partial", "--json")
    assert [(e["id"], e["failed_providers"]) for e in json.loads(out)] == [
        (experiment_id, ["openai:gpt-4o-mini"])
    ]

    fake_llm.config.quota_exhausted = False  # the account was topped up
    code, out, err = invoke("experiments", "resume", experiment_id[:8], "--json")

    assert code == 0, err
    document = json.loads(out)
    assert document["status"] == "completed" and document["failed_providers"] == []
    assert [(b["status"], b["stored"], b["error_code"]) for b in document["providers"]] == [
        ("completed", 10, None),
        ("completed", 10, None),
    ]


def test_show_unknown_id_is_a_clear_error() -> None:
    code, _, err = invoke("experiments", "show", "deadbeef")
    assert (code, err) == (2, "error: no experiment with id 'deadbeef'\n")
    code, _, err = invoke("experiments", "show", "x")
    assert code == 2 and "no experiment" in err


def test_rescore_with_new_brand_definitions_keeps_history(tmp_path: Path) -> None:
    document = _run_demo(30)
    before = document["providers"][0]["metrics"]  # type: ignore[index]
    brands = tmp_path / "brands.toml"
    brands.write_text(
        '[brands.target]\nname = "HubSpot"\n\n[[brands.competitors]]\nname = "Salesforce"\n',
        encoding="utf-8",
    )
    code, out, err = invoke(
        "experiments", "rescore", str(document["id"]), "--brands", str(brands), "--json"
    )
    assert code == 0, err
    after = json.loads(out)
    provider = after["providers"][0]
    assert after["brands_revision"] == 2
    assert set(provider["metrics"]["mention_rates"]) == {"HubSpot", "Salesforce"}
    assert provider["metrics_history"] == [{"brands_revision": 1, "metrics": before}]
    # The target's own rate does not depend on which competitors are tracked.
    assert provider["metrics"]["visibility"] == before["visibility"]


def test_export_command_writes_csv(tmp_path: Path) -> None:
    document = _run_demo(10)
    target = tmp_path / "x.csv"
    code, _, err = invoke("experiments", "export", str(document["id"])[:8], str(target))
    assert code == 0 and "wrote 10 iterations" in err
    with target.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.reader(handle))) == 11


def test_export_command_picks_json_or_json_lines_from_the_file_name(tmp_path: Path) -> None:
    document = _run_demo(10)
    as_json, as_lines = tmp_path / "x.json", tmp_path / "x.JSONL"
    for target in (as_json, as_lines):
        code, _, err = invoke("experiments", "export", str(document["id"]), str(target))
        assert code == 0 and "wrote 10 iterations" in err
    exported = json.loads(as_json.read_text(encoding="utf-8"))
    assert exported["experiment_id"] == document["id"]
    assert [item["index"] for item in exported["items"]] == list(range(10))
    lines = as_lines.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == exported["items"]


def test_resume_of_a_finished_experiment_changes_nothing() -> None:
    document = _run_demo(10)
    code, out, err = invoke("experiments", "resume", str(document["id"]), "--json")
    assert code == 0, err
    assert json.loads(out)["providers"][0]["metrics"] == document["providers"][0]["metrics"]  # type: ignore[index]


def test_providers_lists_missing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = invoke("providers")
    assert code == 0
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert "missing OPENAI_API_KEY" in lines["openai"]
    assert "ready" in lines["anthropic"]
    assert "synthetic" in lines["demo"]


def test_migrate_creates_the_schema_and_can_go_back(cli_env: Path) -> None:
    code, _, err = invoke("migrate")
    assert code == 0 and "migrated to head" in err
    database = cli_env / "echo-ai.db"

    def columns() -> set[str]:  # of the table the latest revision changes
        with sqlite3.connect(database) as connection:
            return {row[1] for row in connection.execute("PRAGMA table_info(batch_runs)")}

    assert "stored" in columns()
    before_counters = "5c1d0e7a9b21"
    code, _, err = invoke("migrate", "--downgrade", before_counters)
    assert code == 0 and f"downgraded to {before_counters}" in err
    assert "stored" not in columns() and "provider" in columns()
    assert invoke("migrate")[0] == 0 and "stored" in columns()


def test_resume_without_the_providers_key_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    document = _run_demo(5)
    code, _, err = invoke("experiments", "resume", str(document["id"]))
    assert code == 0, err  # demo needs no key
    # An experiment of a keyed provider cannot be resumed once its key is gone.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    get_settings.cache_clear()  # settings read the keys once
    code, out, err = invoke(
        "run",
        "--prompt",
        "p?",
        "--brand",
        "HubSpot",
        "--provider",
        "openai:gpt-4o-mini",
        "--iterations",
        "2",
        "--json",
    )
    experiment_id = json.loads(out)["id"]
    monkeypatch.delenv("OPENAI_API_KEY")
    get_settings.cache_clear()
    code, _, err = invoke("experiments", "resume", experiment_id)
    assert code == 2
    assert err == "error: OPENAI_API_KEY is not set (needed for openai:gpt-4o-mini)\n"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "DATABASE_URL must be a PostgreSQL"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_database_here", "database"),
    ],
)
def test_database_problems_are_one_line(
    monkeypatch: pytest.MonkeyPatch, url: str, message: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    code, out, err = invoke("experiments", "list")
    assert code != 0
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in out + err


def test_compare_two_personas_in_words_and_json() -> None:
    runs = []
    for persona, rate in (("I run a design agency.", "0.1"), ("I work at a bank.", "0.9")):
        code, out, err = invoke(
            "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--persona", persona,
            "--iterations", "60", "--demo-probability", f"HubSpot={rate}", "--json",
        )  # fmt: skip
        assert code == 0, err
        runs.append(json.loads(out))
    agency, bank = (str(document["id"]) for document in runs)
    assert runs[0]["persona"] == "I run a design agency."

    code, out, err = invoke("experiments", "compare", agency[:8], bank[:8])
    assert code == 0, err
    assert "persona: I run a design agency. → I work at a bank." in out
    assert "changes from A to B:" in out
    assert "▲ visibility, all providers (synthetic)" in out  # 10% against 90%: significant

    code, out, err = invoke("experiments", "compare", agency, bank, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["differences"] == ["persona: I run a design agency. → I work at a bank."]
    assert document["changes"]["significant"] >= 1

    code, _, err = invoke("experiments", "compare", agency, agency)
    assert code != 0 and "is given twice" in err


def test_several_places_side_by_side_in_words_and_json() -> None:
    ids = []
    for city, rate in (("Paris", "0.1"), ("Berlin", "0.1"), ("Rome", "0.9")):
        code, out, err = invoke(
            "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--country", "FR",
            "--city", city, "--iterations", "60", "--demo-probability", f"HubSpot={rate}",
            "--json",
        )  # fmt: skip
        assert code == 0, err
        document = json.loads(out)
        assert document["user_location"]["city"] == city  # read back as given
        ids.append(str(document["id"]))

    code, out, err = invoke("experiments", "show", ids[2][:8])
    assert code == 0 and "place: Rome, FR" in out
    code, out, err = invoke("experiments", "side-by-side", *(i[:8] for i in ids))
    assert code == 0, err
    assert "B: " in out and "place: Paris, FR → Berlin, FR" in out
    assert "C: " in out and "place: Paris, FR → Rome, FR" in out
    assert "across 2 comparisons" in out
    header = next(line for line in out.splitlines() if "Figure" in line)
    assert header.count("(synthetic)") == 3  # each column's answers are the demo's
    visibility = next(line for line in out.splitlines() if line.startswith("│ visibility"))
    assert re.search(r"\+\d+\.\d\*", visibility)  # C's jump is marked significant

    code, out, err = invoke("experiments", "side-by-side", *ids, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert [e["id"] for e in document["experiments"]] == ids
    assert document["differences"][2] == ["place: Paris, FR → Rome, FR"]

    code, _, err = invoke("experiments", "side-by-side", ids[0])
    assert code != 0 and "from 2 to 8 experiments" in err
