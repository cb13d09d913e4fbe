"""The runs history and the comparison of two runs mark significant changes with their
q-values and say that the false discovery rate is controlled."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from echo_ai.db import transaction
from echo_ai.runs.models import ExperimentRound
from echo_ai.web.rendering import environment
from tests.analysis.test_significance import mixed_comparison
from tests.experiments.test_significance_api import BODY, run_again
from tests.kit import app_runtime, wait_finished
from tests.web.pages import page, text_of
from tests.web.workspace_pages import signed_in


def _run_row(html: str, round_: int) -> str:
    found = re.search(rf'<td data-label="Run"><strong>{round_}</strong></td>.*?</tr>', html, re.S)
    assert found, f"no run {round_}"
    return found.group(0)


async def test_runs_and_compare_mark_significant_changes_with_q_values(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    headers = await signed_in(client)
    created = await client.post("/v1/experiments", headers=headers, json=BODY)
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, headers)
    await run_again(started_app, experiment_id, {"HubSpot": 0.3})
    await run_again(started_app, experiment_id, {"HubSpot": 0.95})
    tested = (await client.get(f"/v1/experiments/{experiment_id}", headers=headers)).json()
    previous = tested["changes"]["vs_previous"]

    runs = await page(client, f"/experiments/{experiment_id}/runs")
    text = text_of(runs)
    assert (
        "the false discovery rate is controlled at 5% (Benjamini–Hochberg)" in text
        and "the complete runs among the previous 4" in text
    )
    latest = text_of(_run_row(runs, 3))
    # Only the demo ran: its family of tests is badged synthetic.
    assert "vs run 2: synthetic ▲ visibility, all providers +" in latest
    assert f"({previous['statement']})" in latest
    assert "vs baseline (runs 2, 1):" in latest
    # Every significant change named, each with its q-value, in text and on hover.
    named = [t for t in previous["tests"] if t["significant"]]
    assert latest.count("significant") >= len(named) > 0
    hover = r'title="q (&lt;|<) 0\.001, p (&lt;|<) 0\.001 before the adjustment"'
    assert re.search(hover, _run_row(runs, 3))
    assert "not tested: no complete run among the previous 4" in text_of(_run_row(runs, 1))

    compare = await page(client, f"/experiments/{experiment_id}/compare?a=2&b=3")
    compared = text_of(compare)
    assert (
        f"{previous['statement']}. Synthetic figures (the demo provider's) are tested apart"
        in compared
    )
    assert "Every significant change" in compared
    assert re.search(r"▲ \+\d+\.\d pts significant q < 0\.001", compared)
    visibility = next(t for t in named if t["metric"] == "visibility" and not t["provider"])
    assert (
        f"Run 3 vs run 2: synthetic ▲ visibility, all providers +"
        f"{visibility['change_points']:.1f} pts" in compared
    )


async def test_a_run_stored_without_figures_is_not_tested_on_the_pages(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    headers = await signed_in(client)
    created = await client.post("/v1/experiments", headers=headers, json={**BODY, "iterations": 10})
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, headers)
    await run_again(started_app, experiment_id, {"HubSpot": 0.3})
    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(
            update(ExperimentRound)
            .where(ExperimentRound.round == 1)
            .values(combined=None, visibility=None)
        )

    runs = await page(client, f"/experiments/{experiment_id}/runs")
    assert "not tested: no complete run among the previous 4" in text_of(_run_row(runs, 2))
    compare = text_of(await page(client, f"/experiments/{experiment_id}/compare?a=1&b=2"))
    # The providers' own figures are still compared; the pooled ones of run 1 are gone.
    assert "false discovery rate controlled at 5%" in compare


def test_synthetic_changes_are_badged_apart_from_the_real_ones() -> None:
    html = (
        environment()
        .from_string(
            '{% from "experiments/significance_macros.html" import change_tests %}'
            '{{ change_tests(tests, "vs run 1") }}'
        )
        .render(tests=mixed_comparison())
    )
    real, synthetic = html.split('<div class="change-family synthetic-family">')
    assert "synthetic" not in text_of(real).replace("vs run 1:", "")
    assert "no significant change" in text_of(real) and "(1 test, false discovery" in real
    assert 'class="badge synthetic"' in synthetic
    assert "▲ visibility, demo:demo-synthetic-1 +70.0 pts significant" in text_of(synthetic)
    assert "(synthetic (demo) figures: 1 test, false discovery rate controlled" in synthetic
    assert (
        "All providers pooled: not tested: the runs pool different providers (not in all "
        "of them: anthropic:claude-haiku-4-5)"
    ) in text_of(synthetic)
