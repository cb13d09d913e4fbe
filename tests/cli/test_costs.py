"""`echo-ai experiments show` (table and ``--json``): cost, the fees in it and their share."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from echo_ai.cli import app
from echo_ai.cli.render import money
from echo_ai.testing.fake_llm import FakeLLMServer

pytestmark = pytest.mark.usefixtures("cli_env")

ANSWERS = 6
REQUEST_FEE = Decimal("0.005")  # Sonar, low search context: $5 per 1,000 requests


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_show_gives_the_fees_and_their_share(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERPLEXITY_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("PERPLEXITY_API_KEY", "pplx-test")
    code, out, err = invoke(
        "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--competitor", "Salesforce",
        "--provider", "perplexity:sonar", "--iterations", str(ANSWERS), "--json",
    )  # fmt: skip
    assert code == 0, err
    experiment_id = json.loads(out)["id"]

    code, out, err = invoke("experiments", "show", experiment_id[:8], "--json")
    assert code == 0, err
    cost = json.loads(out)["providers"][0]["metrics"]["cost"]
    total, fees = Decimal(cost["total_usd"]), Decimal(cost["fees_usd"])
    assert fees == ANSWERS * REQUEST_FEE
    assert cost["fee_share"] == float(fees / total)
    assert Decimal(cost["fees_per_iteration_usd"]) == REQUEST_FEE

    code, out, err = invoke("experiments", "show", experiment_id[:8])
    assert code == 0, err
    lines = out.splitlines()
    fee_line = next(line for line in lines if "fees (request, search)" in line)
    assert money(fees) in fee_line
    assert f"{float(fees / total) * 100:.1f}% of cost" in fee_line
    per_answer = next(line for line in lines if "cost per answer" in line)
    assert f"fees {money(REQUEST_FEE)}" in per_answer
