"""`echo-ai run` and friends, in-process, as a user would type them."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echo_ai.cli import app
from echo_ai.cli.render import money
from echo_ai.config import get_settings
from echo_ai.testing.fake_llm import FakeLLMServer

BASE = [
    "run",
    "--prompt",
    "Best CRM for a 10-person startup?",
    "--brand",
    "HubSpot",
    "--domain",
    "hubspot.com",
    "--competitor",
    "Salesforce",
    "--competitor",
    "Zoho CRM=Zoho",
    "--iterations",
    "30",
]

pytestmark = pytest.mark.usefixtures("cli_env")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_run_prints_a_labelled_synthetic_results_table() -> None:
    code, out, err = invoke(*BASE)
    assert code == 0, err
    assert "SYNTHETIC DATA" in out
    assert "demo:demo-synthetic-1 (synthetic)" in out
    for metric in (
        "visibility rate",
        "share of voice",
        "average position",
        "top-3 rate",
        "consistency",
        "citation rate",
        "mentions: Zoho CRM",
        "latency p50",
    ):
        assert metric in out


def test_progress_is_reported_as_plain_lines_without_a_terminal() -> None:
    code, _, err = invoke(*BASE)
    assert code == 0
    lines = [line for line in err.splitlines() if line.startswith("demo:")]
    assert lines == [
        f"demo:demo-synthetic-1 (synthetic): {done}/30 (0 failed)" for done in (8, 15, 23, 30)
    ]


def test_run_json_is_one_document_with_every_metric_and_interval() -> None:
    code, out, err = invoke(*BASE, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["synthetic"] is True
    (provider,) = document["providers"]
    metrics = provider["metrics"]
    assert metrics["iterations"] == 30
    for name in ("visibility", "top1", "top3", "citation_rate"):
        rate = metrics[name]
        assert {"numerator", "denominator", "value", "ci_low", "ci_high"} <= set(rate)
        assert rate["denominator"] == 30
    assert set(metrics["mention_rates"]) == {"HubSpot", "Salesforce", "Zoho CRM"}
    assert document["combined"]["iterations"] == 30


def test_a_low_temperature_is_warned_when_running_and_in_the_results() -> None:
    code, out, err = invoke(*BASE, "--iterations", "5", "--temperature", "0.2")
    assert code == 0, err
    assert "warning: demo:demo-synthetic-1 (temperature 0.2) samples below 0.7" in err
    assert "too narrow" in " ".join(out.split())
    code, out, err = invoke(*BASE, "--iterations", "5", "--temperature", "0.2", "--json")
    assert code == 0, err
    (warning,) = json.loads(out)["warnings"]
    assert warning.startswith("demo:demo-synthetic-1 (temperature 0.2) samples below 0.7")
    code, out, err = invoke(*BASE, "--iterations", "5", "--json")
    assert "warning:" not in err and json.loads(out)["warnings"] == []


def test_run_exports_every_iteration_to_csv(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    code, _, err = invoke(*BASE, "--export", str(target))
    assert code == 0, err
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30
    assert {row["synthetic"] for row in rows} == {"True"}
    assert sorted(int(row["iteration"]) for row in rows) == list(range(30))
    assert all(row["answer"] for row in rows)


def test_run_shows_and_exports_from_the_runtime_it_ran_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An in-memory database lives as long as its engine: the report and the export find the
    # experiment only if they use the runtime (and engine) that ran it.
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    # One connection holds an in-memory database: one call at a time, so that no two
    # sessions' statements overlap on it.
    monkeypatch.setenv("ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER", "1")
    get_settings.cache_clear()
    target = tmp_path / "out.csv"
    code, out, err = invoke(*BASE, "--iterations", "5", "--json", "--export", str(target))
    assert code == 0, err
    assert json.loads(out)["providers"][0]["metrics"]["iterations"] == 5
    with target.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 5


def test_run_from_a_toml_file_with_flag_overrides() -> None:
    config = Path(__file__).parents[2] / "examples" / "crm.toml"
    code, out, err = invoke("run", str(config), "--iterations", "12", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["iterations"] == 12
    assert document["brands"]["target"]["name"] == "HubSpot"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "nosuch"], "unknown provider 'nosuch'"),
        (["--provider", "openai:gpt-4o-mini"], "OPENAI_API_KEY is not set"),
        (["--iterations", "0"], "iterations: Input should be greater than or equal to 1"),
        (["--iterations", "10001"], "iterations: Input should be less than or equal to 10000"),
        (["--temperature", "3"], "temperature"),
        (["--competitor", "HubSpot"], "listed twice"),
        (["--alias", "x"], "too short"),
        (["--provider", "demo:../../etc/passwd"], "a model name is made of letters"),
        (["--prompt", "best\x1bcrm?"], "prompt: must not contain control characters (U+001B"),
        (["--brand", "Hub\x01Spot"], "must not contain control characters (U+0001"),
    ],
)
def test_bad_input_exits_non_zero_with_one_clear_line(args: list[str], message: str) -> None:
    code, out, err = invoke(*BASE, *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "Traceback" not in out + err


def test_an_experiment_file_gets_the_same_checks_as_the_api(tmp_path: Path) -> None:
    config = tmp_path / "experiment.toml"
    base = 'prompt = "best crm?"\n[brands.target]\nname = "HubSpot"\n'
    for line, message in [
        ("iterations = true", "iterations: Input should be a valid integer"),
        ('temperature = "1"', "temperature: Input should be a valid number"),
        ('providers = ["openai_compatible:/etc/passwd"]', "a model name is made of letters"),
        ('name = "x\\u0000y"', "name: must not contain control characters (U+0000"),
    ]:
        config.write_text(line + "\n" + base, encoding="utf-8")
        code, out, err = invoke("run", str(config))
        assert code == 2, (line, out)
        assert message in err and err.count("\n") == 1, (line, err)


def test_unreadable_experiment_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    code, _, err = invoke("run", str(missing))
    assert (code, err) == (2, f"error: {missing}: no such file\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("prompt = [unclosed", encoding="utf-8")
    code, _, err = invoke("run", str(broken))
    assert code == 2 and err.startswith(f"error: {broken}: not valid TOML")


def test_missing_prompt_or_brand_is_explained() -> None:
    code, _, err = invoke("run", "--brand", "HubSpot")
    assert (code, err) == (2, "error: give a prompt (--prompt TEXT) or an experiment file\n")
    code, _, err = invoke("run", "--prompt", "best crm?")
    assert code == 2 and "--brand" in err


def test_openai_provider_runs_through_the_real_adapter(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake_llm.config.brands = [("HubSpot", 1.0), ("Salesforce", 0.5)]
    code, out, err = invoke(*BASE, "--provider", "openai:gpt-4o-mini", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["synthetic"] is False
    (provider,) = document["providers"]
    assert (provider["provider"], provider["model"]) == ("openai", "gpt-4o-mini")
    assert provider["metrics"]["visibility"] == {
        "numerator": 30,
        "denominator": 30,
        "value": 1.0,
        "ci_low": provider["metrics"]["visibility"]["ci_low"],
        "ci_high": 1.0,
    }
    assert provider["metrics"]["cost"]["total_usd"] is not None  # gpt-4o-mini has a price
    assert fake_llm.request_count == 30
    assert {path for path, _ in fake_llm.requests} == {"/v1/chat/completions"}


def test_a_provider_out_of_quota_fails_the_run_with_its_reason(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake_llm.config.quota_exhausted = True
    code, out, err = invoke(*BASE, "--provider", "openai:gpt-4o-mini")
    assert code == 1
    assert "quota_exhausted" in out
    assert err.endswith("error: the experiment failed: no provider produced a complete answer\n")
    assert fake_llm.request_count < 30  # it stopped at the first hard failure


def test_a_run_where_one_provider_failed_is_partial_and_exits_1(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake_llm.config.quota_exhausted = True
    code, out, err = invoke(*BASE, "--provider", "demo", "--provider", "openai:gpt-4o-mini")
    assert code == 1
    assert "status partial (openai:gpt-4o-mini failed)" in " ".join(out.split())
    assert "quota_exhausted: The provider account is out of credit" in " ".join(out.split())
    assert "error: the experiment is partial: openai:gpt-4o-mini failed" in err
    assert "echo-ai experiments resume" in err


def test_an_unwritable_export_path_is_refused_before_the_run(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "out.csv"
    code, out, err = invoke(*BASE, "--export", str(missing))
    assert code == 2
    assert err == f"error: {missing}: the folder {missing.parent} does not exist\n"
    assert out == ""  # nothing ran


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(None, "unknown"), ("0", "$0.0000"), ("0.00004", "$0.00004000"), ("1.23456", "$1.2346")],
)
def test_money_never_hides_a_small_cost_as_zero(amount: str | None, shown: str) -> None:
    assert money(None if amount is None else Decimal(amount)) == shown


def test_run_samples_until_the_precision_asked_for(tmp_path: Path) -> None:
    adaptive = ["--iterations", "600", "--precision", "0.08", "--demo-probability", "HubSpot=0.03"]
    code, out, err = invoke(*BASE, *adaptive, "--json")
    assert code == 0, err
    (provider,) = json.loads(out)["providers"]
    assert provider["adaptive"]["half_width"] == 0.08
    assert provider["adaptive"]["stopped_early"] is True  # 3% is precise long before 600
    assert provider["iterations_requested"] == provider["stored"] < 600
    assert "estimate: at most $0.0000 for at most 600 call(s)" in err

    code, out, err = invoke(*BASE, *adaptive)
    assert code == 0, err
    assert "adaptive sampling, visibility ±8 points: reached after" in " ".join(out.split())

    config = tmp_path / "adaptive.toml"
    config.write_text(
        'prompt = "Best CRM?"\niterations = 300\n'
        '[brands.target]\nname = "HubSpot"\n'
        '[precision]\nhalf_width = 0.1\nmetric = "top1"\nmin_answers = 50\n',
        encoding="utf-8",
    )
    code, out, err = invoke("run", str(config), "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["precision"] == {"metric": "top1", "half_width": 0.1, "min_answers": 50}
    assert document["providers"][0]["stored"] >= 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--precision", "0.5"],
            "precision.half_width: Input should be less than or equal to 0.25",
        ),
        (["--min-answers", "50"], "--precision-metric and --min-answers go with --precision"),
        (["--precision", "0.05", "--min-answers", "40"], "must be at least its min_answers (40)"),
    ],
)
def test_run_refuses_a_precision_it_cannot_use(args: list[str], message: str) -> None:
    code, _, err = invoke(*BASE, *args)
    assert code == 2
    assert message in err
