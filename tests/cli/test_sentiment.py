"""`echo-ai experiments show` prints each brand's sentiment, and --json has it."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_experiments import _run_demo, invoke

pytestmark = pytest.mark.usefixtures("cli_env")


def test_show_prints_sentiment_per_brand_and_json_has_it() -> None:
    experiment_id = str(_run_demo(30)["id"])
    code, out, err = invoke("experiments", "show", experiment_id, "--json")
    assert code == 0, err
    document = json.loads(out)
    sentiment = document["combined"]["sentiment"]
    hubspot = sentiment["HubSpot"]
    assert hubspot["answers"] == document["combined"]["mention_rates"]["HubSpot"]["numerator"]
    assert (
        hubspot["positive"]["numerator"]
        + hubspot["neutral"]["numerator"]
        + hubspot["negative"]["numerator"]
        == hubspot["answers"]
    )

    code, out, err = invoke("experiments", "show", experiment_id)
    assert code == 0, err
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "sentiment: HubSpot" in line)
    assert f"{hubspot['score']['value']:+.2f}" in lines[at]
    assert f"n={hubspot['answers']}" in lines[at]
    shares = "/".join(
        f"{hubspot[k]['value'] * 100:.0f}%" for k in ("positive", "neutral", "negative")
    )
    assert "pos/neu/neg" in lines[at + 1] and shares in lines[at + 1]
    # The table still fits 80 columns: no metric's name is wrapped onto two lines.
    assert any("cost per answer" in line for line in lines)
    assert "SYNTHETIC" in out
