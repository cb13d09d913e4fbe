"""The costs page: the budget form (managers only, amounts checked beside the field),
the budget status with its warning banners, the cost report of real runs with its month
range and grouping, the CSV download; and an experiment's own cap on its page."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.db import transaction
from echo_ai.metering import ledger
from echo_ai.metering.units import month_of, to_nano
from echo_ai.runs.models import Experiment
from echo_ai.workspaces.models import Role
from tests.experiments.test_router import BODY
from tests.kit import app_runtime, wait_finished
from tests.web.pages import HTML, page, post_form, sign_up, text_of
from tests.web.workspace_pages import (
    add_member,
    personal_workspace,
    second_client,
    signed_in,
    switch_to,
    without_csrf,
)


def _error(html: str, name: str) -> str:
    found = re.search(rf'id="e-{re.escape(name)}">([^<]+)</p>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


async def test_budget_form_status_and_banners(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await signed_in(client)
    html = await page(client, "/costs")
    text = text_of(html)
    assert "Monthly budget None: spend is not capped" in text
    assert 'href="/costs" aria-current="page"' in html  # the main navigation's link
    assert 'action="/costs/budget"' in html and "budget-banner" not in html

    for amount, message in [
        ("-3", "more than $0"),
        ("0", "more than $0"),
        ("ten", "must be a number of US dollars"),
        ("9.999", "at most 2 decimal places"),
    ]:
        refused = await post_form(
            client, "/costs/budget", {"monthly_usd": amount}, token_from="/costs"
        )
        assert refused.status_code == 422, amount
        assert message in _error(refused.text, "monthly_usd"), amount
        assert f'value="{amount}"' in refused.text  # what was typed comes back
    assert await without_csrf(client, "/costs/budget") == 403

    saved = await post_form(client, "/costs/budget", {"monthly_usd": "$20"}, token_from="/costs")
    assert saved.status_code == 303 and saved.headers["location"] == "/costs?done=set"
    text = text_of(await page(client, "/costs?done=set"))
    assert "The monthly budget was saved." in text
    assert "Monthly budget $20.00" in text and "Left $20.00" in text

    # Spend at the alert level (80% by default), then at the cap.
    workspace_id = await personal_workspace(started_app, "ada@example.com")
    line = ledger.StoredLine(workspace_id, uuid.uuid4(), "openai:gpt-4o", 2, to_nano("16"))
    month = month_of(datetime.now(UTC))
    async with transaction(app_runtime(started_app).session_factory) as session:
        await ledger.record_stored(session, [line], month=month)
    text = text_of(await page(client, "/costs"))
    assert "Warning: 80.0% of this month's budget of $20.00 is used" in text
    assert "$4.00 is left" in text
    async with transaction(app_runtime(started_app).session_factory) as session:
        await ledger.record_stored(session, [line], month=month)
    text = text_of(await page(client, "/costs"))
    assert "The monthly budget of $20.00 is used up (160.0%)" in text and "Left $0.00" in text

    cleared = await post_form(client, "/costs/budget/clear", token_from="/costs")
    assert cleared.headers["location"] == "/costs?done=cleared"
    text = text_of(await page(client, "/costs?done=cleared"))
    assert "spend is no longer capped" in text and "Warning" not in text


async def test_readers_see_costs_but_no_budget_form(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    owner = await signed_in(client)
    created = await client.post("/v1/workspaces", headers=owner, json={"name": "Acme"})
    assert created.status_code == 201, created.text
    workspace_id = created.json()["id"]
    await switch_to(client, workspace_id)
    assert 'action="/costs/budget"' in await page(client, "/costs")  # the owner's form
    team = {**owner, "X-Workspace-ID": workspace_id}
    created = await client.post("/v1/experiments", headers=team, json={**BODY, "iterations": 2})
    assert created.status_code == 202, created.text
    experiment = f"/experiments/{created.json()['id']}"
    await wait_finished(client, created.json()["id"], team)
    for role in (Role.VIEWER, Role.MEMBER):
        email = f"{role}@example.com"
        async with second_client(started_app) as other:
            await sign_up(other, email)
            await add_member(started_app, workspace_id, email, role)
            await switch_to(other, workspace_id)
            html = await page(other, "/costs")
            assert "Owners and admins set the budget." in html
            assert 'action="/costs/budget"' not in html
            forged = await post_form(
                other, "/costs/budget", {"monthly_usd": "5"}, token_from="/costs"
            )
            assert forged.status_code == 403
            forged = await post_form(other, "/costs/budget/clear", token_from="/costs")
            assert forged.status_code == 403
            # An experiment's own cap: writers only.
            html = await page(other, experiment)
            capped = await post_form(
                other, f"{experiment}/budget", {"monthly_usd": "2"}, token_from=experiment
            )
            if role == Role.VIEWER:
                assert "Monthly cap (USD)" not in html and capped.status_code == 403
            else:
                assert "Monthly cap (USD)" in html and capped.status_code == 303
    assert "None: spend is not capped" in text_of(await page(client, "/costs"))


async def test_report_table_range_grouping_and_csv(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    created = await client.post(
        "/v1/experiments", headers=headers, json={**BODY, "name": "Demo CRM", "iterations": 5}
    )
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, headers)
    this = month_of(datetime.now(UTC))

    text = text_of(await page(client, f"/costs?from={this}&to={this}&by=experiment"))
    assert f"{this} to {this}: 5 iterations, $0.00" in text
    assert "Demo CRM 5 $0.00 synthetic" in text
    assert "Total 5 $0.00" in text
    html = await page(client, "/costs?by=provider")
    assert "demo:" in html

    download = await client.get(f"/costs.csv?from={this}&to={this}&by=experiment", headers=HTML)
    assert download.status_code == 200
    assert download.headers["content-disposition"] == (
        f'attachment; filename="costs-{this}-to-{this}-by-experiment.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["experiment"], r["iterations"], r["cost_usd"], r["synthetic"]) for r in rows] == [
        ("Demo CRM", "5", "0.00", "yes")
    ]

    bad = await page(client, "/costs?from=2026-14", status=422)
    assert "From must be a month as YYYY-MM" in _error(bad, "months")
    bad = await page(client, "/costs?from=2026-05&to=2026-01", status=422)
    assert "is after to" in text_of(bad)
    bad = await page(client, "/costs?by=vendor", status=422)
    assert "Choose month, provider, experiment or purpose." in bad
    assert (await client.get("/costs.csv?from=1999", headers=HTML)).status_code == 422


async def test_calls_outside_experiments_are_a_purpose_and_no_experiments_line(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    headers = await signed_in(client)
    workspace_id = uuid.UUID((await client.get("/v1/workspaces", headers=headers)).json()[0]["id"])
    async with transaction(app_runtime(started_app).session_factory) as session:
        await ledger.record_stored(
            session,
            [
                ledger.StoredLine(
                    workspace_id,
                    None,
                    "openai:gpt-4o-mini",
                    0,
                    to_nano(Decimal("0.0012")),
                    "candidate_prompts",
                )
            ],
            month=month_of(datetime.now(UTC)),
        )
    text = text_of(await page(client, "/costs?by=purpose"))
    assert "Candidate prompts 0 $0.0012" in text
    html = await page(client, "/costs?by=experiment")
    assert "(no experiment: candidate prompts)" in html
    assert "/experiments/00000000-0000-0000-0000-000000000000" not in html
    download = await client.get("/costs.csv?by=purpose", headers=HTML)
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [(r["purpose"], r["iterations"], r["cost_usd"]) for r in rows] == [
        ("Candidate prompts", "0", "0.0012")
    ]


async def test_experiment_cap_on_its_page(client: httpx.AsyncClient, started_app: FastAPI) -> None:
    headers = await signed_in(client)
    created = await client.post("/v1/experiments", headers=headers, json={**BODY, "iterations": 3})
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, headers)
    url = f"/experiments/{experiment_id}"
    html = await page(client, url)
    assert f'action="{url}/budget"' in html and "Monthly cap (USD)" in html

    refused = await post_form(client, f"{url}/budget", {"monthly_usd": "1.001"}, token_from=url)
    assert refused.status_code == 422
    assert "at most 2 decimal places" in _error(refused.text, "monthly_usd")
    saved = await post_form(client, f"{url}/budget", {"monthly_usd": "4.5"}, token_from=url)
    assert saved.status_code == 303 and saved.headers["location"] == url
    assert 'value="4.50"' in await page(client, url)
    assert "$4.50 a month" in text_of(await page(client, f"{url}/budget"))

    async def cap() -> Decimal | None:
        async with transaction(app_runtime(started_app).session_factory) as session:
            return await session.scalar(
                select(Experiment.budget_usd).where(Experiment.id == uuid.UUID(experiment_id))
            )

    assert await cap() == Decimal("4.5")
    removed = await post_form(
        client, f"{url}/budget", {"monthly_usd": "4.50", "clear": "1"}, token_from=url
    )
    assert removed.status_code == 303 and await cap() is None
    assert "Remove cap" not in await page(client, url)
