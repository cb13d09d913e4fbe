"""`echo-ai experiments discovered` and `echo-ai experiments add-competitor`."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_experiments import _run_demo, invoke

pytestmark = pytest.mark.usefixtures("cli_env")


def test_discovered_then_add_competitor() -> None:
    experiment_id = str(_run_demo(20)["id"])
    code, out, err = invoke("experiments", "discovered", experiment_id[:8], "--json")
    assert code == 0, err
    found = json.loads(out)
    assert found["synthetic"] is True and found["answers"] == 20
    names = {item["name"]: item["mention_rate"] for item in found["names"]}
    assert "Attio" in names and names["Attio"]["numerator"] >= 2

    code, out, _ = invoke("experiments", "show", experiment_id)
    assert code == 0 and "also recommended (not tracked" in out and "Attio" in out
    code, out, _ = invoke("experiments", "discovered", experiment_id)
    assert code == 0
    assert "also recommended, run 1 (synthetic: demo provider)" in out
    assert "Attio" in out and "95% interval" in out

    code, out, err = invoke("experiments", "add-competitor", experiment_id, "Attio", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert "Attio" in shown["providers"][0]["metrics"]["mention_rates"]
    assert shown["brands_revision"] == 2
    code, out, _ = invoke("experiments", "discovered", experiment_id, "--json")
    assert "Attio" not in {item["name"] for item in json.loads(out)["names"]}
    code, out, _ = invoke("experiments", "show", experiment_id)
    assert "also recommended" not in out or "Attio" not in out.split("also recommended")[1]


def test_refusals_are_friendly() -> None:
    experiment_id = str(_run_demo(5)["id"])
    code, _, err = invoke("experiments", "discovered", experiment_id, "--run", "9")
    assert code != 0 and "run 9" in err and "Traceback" not in err
    code, _, err = invoke("experiments", "add-competitor", experiment_id, "salesforce")
    assert code != 0 and "already tracked" in err and "Traceback" not in err
    code, out, _ = invoke("experiments", "discovered", "--help")
    assert "Who else gets recommended" in out and "--json" in out
