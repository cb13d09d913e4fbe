"""Costs a user can reconcile with the vendor's bill, on every surface: the API (experiment
and iterations), the CSV export and the experiment page's cost panel. Perplexity Sonar
answers through the fake server pay a request fee ($5 per 1,000 at the default low search
context) on top of their tokens."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import httpx

from echo_ai.analysis.metrics import CostStats
from echo_ai.config import Settings
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.web.format import percent, usd
from echo_ai.web.rendering import environment
from tests.web.pages import page, text_of
from tests.web.test_experiment_view import finished_experiment
from tests.web.workspace_pages import signed_in

ANSWERS = 8
REQUEST_FEE = Decimal("0.005")


def _perplexity_at(settings: Settings, fake_llm: FakeLLMServer) -> None:
    settings.vendor_environment["PERPLEXITY_API_KEY"] = "pplx-test"
    settings.vendor_environment["PERPLEXITY_BASE_URL"] = fake_llm.base_url


async def test_fees_and_their_share_on_the_api_the_export_and_the_page(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _perplexity_at(settings, fake_llm)
    headers = await signed_in(client)
    detail = await finished_experiment(
        client, headers, ["perplexity:sonar"], iterations=ANSWERS, grounding=True
    )
    assert detail["status"] == "completed", detail

    # API: the batch's cost, the fees in it, their share, per answer.
    cost = detail["providers"][0]["metrics"]["cost"]
    total, fees = Decimal(cost["total_usd"]), Decimal(cost["fees_usd"])
    assert fees == ANSWERS * REQUEST_FEE
    assert fees < total < 2 * fees  # a handful of tokens on top of the request fees
    assert cost["fee_share"] == float(fees / total)
    assert Decimal(cost["fees_per_iteration_usd"]) == REQUEST_FEE
    assert Decimal(cost["per_iteration_usd"]) == (total / ANSWERS).quantize(Decimal("1e-10"))
    assert detail["combined"]["cost"]["fees_usd"] == cost["fees_usd"]

    # API: each answer with its own fee.
    listing = await client.get(f"/v1/experiments/{detail['id']}/iterations", headers=headers)
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert len(items) == ANSWERS
    assert {Decimal(item["fee_usd"]) for item in items} == {REQUEST_FEE}
    assert sum(Decimal(item["cost_usd"]) for item in items) == total

    # Export: a fee_usd column beside cost_usd.
    exported = await client.get(f"/v1/experiments/{detail['id']}/export.csv", headers=headers)
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [Decimal(row["fee_usd"]) for row in rows] == [REQUEST_FEE] * ANSWERS
    assert sum(Decimal(row["cost_usd"]) for row in rows) == total

    # The page's cost panel: the total for the answers and the part fees make.
    text = text_of(await page(client, f"/experiments/{detail['id']}"))
    share = percent(float(fees / total), 0)
    fees_part = f"of which {usd(fees)} ({share}) request and search fees"
    assert f"Cost of this run {usd(total)} for {ANSWERS} answers, {fees_part}" in text
    assert f"{usd(REQUEST_FEE)} of it fees" in text  # per answer, in the metrics table


async def test_free_answers_show_no_fee_clause(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=5)
    cost = detail["providers"][0]["metrics"]["cost"]
    assert Decimal(cost["total_usd"]) == Decimal(cost["fees_usd"]) == 0
    assert cost["fee_share"] is None
    text = text_of(await page(client, f"/experiments/{detail['id']}"))
    assert "Cost of this run $0.00 for 5 answers" in text
    assert "of which" not in text


def _panel(**cost: object) -> str:
    stats = CostStats.model_validate(
        {"priced_iterations": 2, "unpriced_iterations": 0, "per_iteration_usd": None, **cost}
    )
    macros = environment().get_template("experiments/cost_macros.html").module
    return text_of(str(macros.cost_of(stats, 2)))  # type: ignore[attr-defined]


def test_the_panel_never_shows_an_unknown_figure_as_a_number() -> None:
    assert _panel(total_usd="0.02", known_total_usd="0.02", fees_usd=None) == (
        "$0.02 for 2 answers (fees unknown)"
    )
    assert _panel(total_usd=None, known_total_usd="0.01") == (
        "at least $0.01 (some prices unknown)"
    )
    assert _panel(total_usd=None, known_total_usd=None) == "price unknown"
    assert (
        _panel(total_usd="0.0123", known_total_usd="0.0123", fees_usd="0.0025", fee_share=0.2)
        == "$0.01 for 2 answers, of which $0.0025 (20%) request and search fees"
    )
