"""The sample-size planner at its surfaces: ``GET /v1/planning/sample-size`` and
``echo-ai plan`` (the figures themselves are checked in tests/analysis/test_sampling.py)."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from echo_ai.analysis.sampling import answers_for_half_width, answers_to_detect
from echo_ai.cli import app
from tests.kit import register_and_login

PLAN = "/v1/planning/sample-size"


async def test_the_api_plans_a_precision_and_a_change(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    response = await client.get(
        PLAN,
        headers=user,
        params={"half_width": 0.05, "change_from": 0.5, "change_to": 0.6},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    precision, change = body["precision"], body["change"]
    assert precision["fixed_answers"] == answers_for_half_width(0.05) == 381
    # at one half adaptive sampling saves nothing: it stops within a round of the count
    assert 381 <= precision["adaptive_answers"] <= 391
    assert (precision["adaptive_min_answers"], precision["adaptive_max_answers"]) == (30, 1000)
    assert change["answers_per_period"] == answers_to_detect(0.5, 0.6) == 388

    rare = await client.get(PLAN, headers=user, params={"half_width": 0.05, "expected_rate": 0.05})
    rare_precision = rare.json()["precision"]
    assert rare_precision["fixed_answers"] < 381
    assert rare_precision["adaptive_answers"] < 381 / 2
    assert rare.json()["change"] is None


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({}, "precision (half_width) or a change"),
        ({"change_from": 0.5}, "both change_from and change_to"),
        ({"change_from": 0.5, "change_to": 0.5}, "must differ"),
        ({"change_from": 0.5, "change_to": 0.5001}, "more than"),
        ({"half_width": 0.5}, "half_width"),
        ({"half_width": "wide"}, "half_width"),
        ({"half_width": 0.05, "max_answers": 10}, "max_answers"),
        ({"half_width": 0.05, "min_answers": 10}, "min_answers"),
        ({"half_width": 0.05, "min_answers": 500, "max_answers": 400}, "max_answers"),
    ],
)
async def test_the_api_refuses_what_it_cannot_plan_with_a_reason(
    client: httpx.AsyncClient, params: dict[str, object], needle: str
) -> None:
    user = await register_and_login(client, "ada@example.com")
    response = await client.get(PLAN, headers=user, params=params)
    assert response.status_code == 422, response.text
    assert needle in response.text


async def test_the_planner_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    response = await client.get(PLAN, params={"half_width": 0.05})
    assert response.status_code == 401


def test_the_cli_plans_in_words_and_json() -> None:
    runner = CliRunner()
    words = runner.invoke(app, ["plan", "--half-width", "0.05", "--from", "0.5", "--to", "0.6"])
    assert words.exit_code == 0, words.output
    assert "381 answers per provider (fixed count)" in words.stdout
    assert "388 answers per provider in each run compared" in words.stdout

    as_json = runner.invoke(app, ["plan", "--half-width", "0.03", "--json"])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert body["precision"]["fixed_answers"] == answers_for_half_width(0.03)
    assert body["change"] is None


def test_the_cli_says_what_is_missing_or_out_of_range() -> None:
    result = CliRunner().invoke(app, ["plan", "--from", "0.5"])
    assert result.exit_code == 2
    assert "both change_from and change_to" in result.stderr
    zero = CliRunner().invoke(app, ["plan", "--half-width", "0"])
    assert zero.exit_code == 2 and "half_width must lie in (0, 0.25]" in zero.stderr


async def test_a_maximum_too_low_for_the_precision_is_said(client: httpx.AsyncClient) -> None:
    user = await register_and_login(client, "ada@example.com")
    short = await client.get(PLAN, headers=user, params={"half_width": 0.01, "max_answers": 30})
    precision = short.json()["precision"]
    assert precision["adaptive_answers"] == 30 and precision["adaptive_reaches_target"] == 0.0
    enough = await client.get(PLAN, headers=user, params={"half_width": 0.1})
    assert enough.json()["precision"]["adaptive_reaches_target"] == 1.0
    warned = CliRunner().invoke(app, ["plan", "--half-width", "0.01", "--max-answers", "30"])
    assert warned.exit_code == 0
    assert "only 0% of runs reach ±1 points within 30 answers" in warned.stdout


async def test_a_higher_minimum_is_planned_with(client: httpx.AsyncClient) -> None:
    """A rare brand is precise early: the minimum, not the interval, decides its cost."""
    user = await register_and_login(client, "ada@example.com")
    params = {"half_width": 0.05, "expected_rate": 0.01}
    low = (await client.get(PLAN, headers=user, params=params)).json()["precision"]
    high = (await client.get(PLAN, headers=user, params={**params, "min_answers": 200})).json()
    assert low["adaptive_answers"] < 100
    assert high["precision"]["adaptive_min_answers"] == 200
    assert high["precision"]["adaptive_answers"] == 200
    words = CliRunner().invoke(app, ["plan", "--half-width", "0.05", "--min-answers", "200"])
    assert words.exit_code == 0 and "between 200 and 1,000" in words.stdout
