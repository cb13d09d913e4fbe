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
    line = next(line for line in out.splitlines() if "sentiment: HubSpot" in line)
    assert f"{hubspot['score']['value']:+.2f}" in line
    assert f"n={hubspot['answers']}" in line
    assert f"{hubspot['positive']['value'] * 100:.1f}% pos" in line
    assert "SYNTHETIC" in out
