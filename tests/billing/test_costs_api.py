"""Cost reports over HTTP, against the spend lines the writer keeps as real runs store
their iterations (the fake OpenAI server, priced; the demo provider, synthetic and free):
per month, provider and experiment, the CSV that parses back to the same figures, a
deleted experiment's line, and the month range checked."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from echo_ai.config import Settings
from echo_ai.metering.units import month_of, to_nano, to_usd
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.experiments.test_router import BODY
from tests.kit import register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")

OPENAI = "openai:gpt-4o-mini"


def _previous(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


async def _run(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, provider: str, n: int
) -> tuple[str, int]:
    """A finished experiment's id and the cost of its iterations in nano-dollars."""
    body = {**BODY, "name": name, "providers": [provider], "iterations": n}
    created = await client.post("/v1/experiments", headers=headers, json=body)
    assert created.status_code == 202, created.text
    detail = await wait_finished(client, created.json()["id"], headers)
    assert detail["status"] == "completed", detail
    listing = await client.get(f"/v1/experiments/{detail['id']}/iterations", headers=headers)
    items = listing.json()["items"]
    assert len(items) == n
    return detail["id"], sum(to_nano(Decimal(item["cost_usd"] or 0)) for item in items)


def _plain(text: str) -> Decimal:
    assert "E" not in text.upper() and "." in text, text  # a plain decimal string
    return Decimal(text)


async def _csv(
    client: httpx.AsyncClient, headers: dict[str, str], query: str
) -> list[dict[str, str]]:
    response = await client.get(f"/v1/costs.csv?{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="costs-')
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_cost_reports_by_month_provider_and_experiment(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    ada = await register_and_login(client, "ada@example.com")
    paid_id, paid_nano = await _run(client, ada, "Paid CRM", OPENAI, 6)
    demo_id, demo_nano = await _run(client, ada, "=Demo CRM", "demo", 4)
    assert paid_nano > 0 and demo_nano == 0
    this = month_of(datetime.now(UTC))
    query = f"from={_previous(this)}&to={this}"

    by_provider = await client.get(f"/v1/costs?{query}&group_by=provider", headers=ada)
    assert by_provider.status_code == 200, by_provider.text
    report = by_provider.json()
    assert (report["from_month"], report["to_month"], report["group_by"]) == (
        _previous(this),
        this,
        "provider",
    )
    lines = report["lines"]
    assert lines[0]["key"] == OPENAI  # costliest first
    assert lines[1]["key"].startswith("demo:")
    assert [(line["iterations"], line["synthetic"]) for line in lines] == [(6, "no"), (4, "yes")]
    assert _plain(lines[0]["cost_usd"]) == to_usd(paid_nano)
    assert _plain(lines[1]["cost_usd"]) == 0
    assert report["iterations"] == 10 and _plain(report["cost_usd"]) == to_usd(paid_nano)

    by_month = (await client.get(f"/v1/costs?{query}", headers=ada)).json()
    assert by_month["group_by"] == "month"
    assert [(line["key"], line["iterations"], line["synthetic"]) for line in by_month["lines"]] == [
        (this, 10, "partly")
    ]
    assert _plain(by_month["lines"][0]["cost_usd"]) == to_usd(paid_nano)

    by_experiment = (await client.get(f"/v1/costs?{query}&group_by=experiment", headers=ada)).json()
    assert [(line["key"], line["label"], line["deleted"]) for line in by_experiment["lines"]] == [
        (paid_id, "Paid CRM", False),
        (demo_id, "=Demo CRM", False),
    ]

    # CSV: the same lines, money as plain decimal strings, the demo's marked synthetic.
    rows = await _csv(client, ada, f"{query}&group_by=provider")
    assert list(rows[0]) == ["provider", "iterations", "cost_usd", "synthetic"]
    assert [
        (r["provider"], int(r["iterations"]), _plain(r["cost_usd"]), r["synthetic"]) for r in rows
    ] == [
        (line["key"], line["iterations"], Decimal(line["cost_usd"]), line["synthetic"])
        for line in lines
    ]
    rows = await _csv(client, ada, f"{query}&group_by=experiment")
    assert list(rows[0]) == [
        "experiment_id",
        "experiment",
        "deleted",
        "iterations",
        "cost_usd",
        "synthetic",
    ]
    # A name a spreadsheet would run as a formula is quoted.
    assert [(r["experiment_id"], r["experiment"], r["deleted"]) for r in rows] == [
        (paid_id, "Paid CRM", "no"),
        (demo_id, "'=Demo CRM", "no"),
    ]

    # A deleted experiment's spend stays in the report, labelled as such.
    assert (await client.delete(f"/v1/experiments/{demo_id}", headers=ada)).status_code == 204
    after = (await client.get(f"/v1/costs?{query}&group_by=experiment", headers=ada)).json()
    assert [(line["label"], line["iterations"], line["deleted"]) for line in after["lines"]] == [
        ("Paid CRM", 6, False),
        ("(deleted experiment)", 4, True),
    ]
    rows = await _csv(client, ada, f"{query}&group_by=experiment")
    assert rows[1]["experiment"] == "(deleted experiment)" and rows[1]["deleted"] == "yes"

    # Another workspace sees none of it; a month without spend has no lines.
    eve = await register_and_login(client, "eve@example.com")
    assert (await client.get(f"/v1/costs?{query}", headers=eve)).json()["lines"] == []
    empty = (await client.get("/v1/costs?from=2001-01&to=2001-12", headers=ada)).json()
    assert (empty["lines"], empty["iterations"], empty["cost_usd"]) == ([], 0, "0.00")
    assert len(await _csv(client, ada, "from=2001-01&to=2001-12")) == 0

    # The budget status counts the same stored cost.
    status = (await client.get("/v1/budget", headers=ada)).json()
    assert _plain(status["spent_usd"]) == to_usd(paid_nano) and status["iterations"] == 10


BAD_MONTHS: list[tuple[str, int, str]] = [
    ("from=2026-13&to=2026-12", 422, "from must be a month as YYYY-MM"),
    ("from=2026-1&to=2026-12", 422, "from must be a month as YYYY-MM"),
    ("to=last", 422, "to must be a month as YYYY-MM"),
    ("from=2026-05&to=2026-04", 422, "is after to"),
    ("from=2020-01&to=2023-01", 422, "at most 36 months"),
    ("from=2026-01-01", 422, "at most 7 characters"),
    ("group_by=vendor", 422, "'month', 'provider', 'experiment' or 'purpose'"),
]


@pytest.mark.parametrize("path", ["/v1/costs", "/v1/costs.csv"])
async def test_month_ranges_are_checked(client: httpx.AsyncClient, path: str) -> None:
    ada = await register_and_login(client, "ada@example.com")
    for query, status, message in BAD_MONTHS:
        response = await client.get(f"{path}?{query}", headers=ada)
        assert response.status_code == status, (query, response.text)
        body: dict[str, Any] = response.json()
        assert message in response.text, (query, body)
    widest = await client.get(f"{path}?from=2020-01&to=2022-12", headers=ada)
    assert widest.status_code == 200, widest.text
    defaulted = await client.get("/v1/costs", headers=ada)
    this = month_of(datetime.now(UTC))
    assert (defaulted.json()["from_month"], defaulted.json()["to_month"]) == (this, this)
