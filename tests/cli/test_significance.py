"""`echo-ai experiments show`: the latest run's significant changes since the previous run
and against the baseline, with q-values and the number of tests; all of them in --json."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from typer.testing import CliRunner

from echo_ai.analysis import significance
from echo_ai.cli import app
from echo_ai.cli import experiments as cli_experiments
from echo_ai.cli.render import change_lines
from echo_ai.config import get_settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import SYNTHETIC_NOTICE
from echo_ai.runs import service as run_service
from tests.analysis.test_significance import mixed_comparison

pytestmark = pytest.mark.usefixtures("cli_env")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def run_again(experiment_id: str, probabilities: dict[str, float]) -> None:
    """The experiment's next run (as a schedule starts it) with these demo chances."""

    async def go() -> None:
        async with open_runtime(get_settings(), executor="local") as runtime:
            async with transaction(runtime.session_factory) as session:
                experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
                experiment.demo_probabilities = probabilities
                await run_service.start_run(session, experiment, chunk_size=60, now=utcnow())
            await runtime.executor.run_experiment(uuid.UUID(experiment_id))

    asyncio.run(go())


def test_show_names_the_significant_changes_with_their_q_values() -> None:
    code, out, err = invoke(
        "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--competitor", "Salesforce",
        "--iterations", "60", "--demo-probability", "HubSpot=0.2", "--json",
    )  # fmt: skip
    assert code == 0, err
    experiment_id = json.loads(out)["id"]
    first = json.loads(invoke("experiments", "show", experiment_id, "--json")[1])
    assert first["changes"]["note"] == "not tested: no complete run among the previous 4"
    code, out, _ = invoke("experiments", "show", experiment_id)
    assert "significance of run 1" in out and "not tested" in out

    run_again(experiment_id, {"HubSpot": 0.2})
    run_again(experiment_id, {"HubSpot": 0.95})

    code, out, err = invoke("experiments", "show", experiment_id[:8])
    assert code == 0, err
    text = " ".join(out.split())
    # Visibility, top-1, top-3, citation rate and Salesforce's mention rate, demo and
    # pooled: only the demo ran, so every figure is synthetic and said so.
    assert (
        "change since the previous run (run 2): synthetic (demo) figures: 10 tests, false "
        f"discovery rate controlled at 5% (Benjamini–Hochberg) {SYNTHETIC_NOTICE}"
    ) in text
    assert "vs baseline (runs 2, 1 pooled): synthetic (demo) figures: 10 tests" in text
    assert "▲ visibility, all providers (synthetic) +" in text and "q < 0.001" in text

    code, out, err = invoke("experiments", "show", experiment_id, "--json")
    assert code == 0, err
    changes = json.loads(out)["changes"]
    assert changes["vs_previous"]["against"] == [2]
    assert changes["vs_baseline"]["against"] == [2, 1]
    assert changes["vs_previous"]["notice"] == SYNTHETIC_NOTICE
    tests = changes["vs_previous"]["tests"]
    assert len(tests) == 10 and all(t["p_value"] is not None for t in tests)
    assert all(t["synthetic"] for t in tests)
    named = [t for t in tests if t["significant"]]
    assert {"metric": "visibility", "provider": None} in [
        {"metric": t["metric"], "provider": t["provider"]} for t in named
    ]
    # Only significant changes are named in the text block: as many lines as in --json.
    assert text.count("▲") + text.count("▼") == len(named) + sum(
        t["significant"] for t in changes["vs_baseline"]["tests"]
    )

    code, out, _ = invoke("experiments", "show", experiment_id, "--json", "--baseline-runs", "1")
    assert json.loads(out)["changes"]["vs_baseline"]["against"] == [2]
    code, _, err = invoke("experiments", "show", experiment_id, "--baseline-runs", "0")
    assert code == 2 and "--baseline-runs" in err


def test_the_command_lines_default_baseline_is_the_libraries() -> None:
    assert cli_experiments.BASELINE_RUNS == significance.BASELINE_RUNS


def test_the_text_block_labels_synthetic_changes_and_keeps_them_apart() -> None:
    lines = change_lines("change since the previous run (run 1)", mixed_comparison())
    assert lines == [
        "change since the previous run (run 1):",
        "  1 test, false discovery rate controlled at 5% (Benjamini–Hochberg)",
        "    no significant change",
        "  synthetic (demo) figures: 1 test, false discovery rate controlled at 5% "
        "(Benjamini–Hochberg)",
        f"  {SYNTHETIC_NOTICE}",
        "    ▲ visibility, demo:demo-synthetic-1 (synthetic) +70.0 pts (20.0% → 90.0%), q < 0.001",
        "  all providers pooled: not tested: the runs pool different providers (not in all "
        "of them: anthropic:claude-haiku-4-5)",
    ]
