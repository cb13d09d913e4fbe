"""Tracker pages: the list, the new-tracker form (prompts pasted as ``topic: question``
lines or a CSV file, errors naming the line; brands from a profile or typed in place), the
tracker's pooled figures with the cluster note, synthetic labels, chart data and CSV
download, and deleting it."""

from __future__ import annotations

import csv
import html as html_module
import io
import json
import re

import httpx
from fastapi import FastAPI

from echo_ai.brands import service as brand_service
from echo_ai.brands.schemas import BrandProfileIn
from echo_ai.db import transaction
from echo_ai.experiments.tracker_export import COLUMNS
from echo_ai.privacy.audit import Actor
from tests.kit import app_runtime, wait_until
from tests.web.pages import csrf_token, origin, page, post_form, sign_up, text_of
from tests.web.workspace_pages import personal_workspace

PROMPTS = "startups: Best CRM for a startup?\nstartups: Cheapest CRM?\nIs HubSpot worth it?\n"


async def _profile(app: FastAPI, client: httpx.AsyncClient) -> str:
    workspace_id = await personal_workspace(app, "ada@example.com")
    data = BrandProfileIn.model_validate(
        {"brand": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]}
    )
    async with transaction(app_runtime(app).session_factory) as session:
        profile = await brand_service.create(session, workspace_id, data, actor=Actor.cli())
    return str(profile.id)


async def _create(client: httpx.AsyncClient, profile_id: str, **extra: str) -> httpx.Response:
    data: dict[str, str | list[str]] = {
        "name": "CRM questions",
        "brand_profile_id": profile_id,
        "providers": ["demo"],
        "iterations": "5",
        "prompts": PROMPTS,
        **extra,
    }
    return await post_form(client, "/trackers/new", data, token_from="/trackers/new")


async def test_create_a_tracker_from_lines_and_read_its_figures(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    assert "No tracker yet" in await page(client, "/trackers")
    profile_id = await _profile(app, client)
    form = await page(client, "/trackers/new")
    assert "topic: question" in form and profile_id in form
    assert 'class="alert error"' not in form  # a fresh form shows no error

    created = await _create(client, profile_id)
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert re.fullmatch(r"/trackers/[0-9a-f-]{36}", location)

    async def all_done() -> bool:
        return "no complete run" not in await page(client, location)

    await wait_until(all_done, within=60, message="the prompts did not finish")
    html = await page(client, location)
    text = text_of(html)
    assert "Synthetic data" in text and "synthetic" in html
    assert "treat each prompt as a cluster" in text
    assert "Topic: startups" in text and "No topic" in text and "Overall" in text
    assert "3 / 3" in text
    assert html.count('href="/experiments/') == 3
    assert "Salesforce" in text

    listed = text_of(await page(client, "/trackers"))
    assert "CRM questions" in listed and "startups" in listed

    more = await post_form(
        client,
        f"{location}/prompts",
        {"prompts": "pricing: Is HubSpot expensive?"},
        token_from=location,
    )
    assert more.status_code == 303 and more.headers["location"] == f"{location}?added=1"
    assert "1 prompt added" in text_of(await page(client, more.headers["location"]))
    again = await post_form(
        client, f"{location}/prompts", {"prompts": "Cheapest CRM?"}, token_from=location
    )
    assert again.status_code == 409 and "already in the tracker" in again.text
    assert ">Cheapest CRM?</textarea>" in again.text  # what was typed is kept

    async def four_done() -> bool:
        return "no complete run" not in await page(client, location)

    await wait_until(four_done, within=60, message="the added prompt did not finish")
    tracker_id = location.rsplit("/", 1)[1]
    assert "Delete the tracker" in await page(client, f"{location}/delete")
    deleted = await post_form(client, f"{location}/delete", token_from=f"{location}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/trackers?deleted=1"
    assert "No tracker yet" in await page(client, "/trackers")
    await page(client, f"/trackers/{tracker_id}", status=404)


async def test_a_csv_file_upload_creates_the_tracker(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    profile_id = await _profile(app, client)
    token = csrf_token(await page(client, "/trackers/new"))
    response = await client.post(
        "/trackers/new",
        data={
            "csrf_token": token,
            "name": "From CSV",
            "brand_profile_id": profile_id,
            "providers": "demo",
            "iterations": "3",
            "prompts": "",
        },
        files={
            "prompts_file": (
                "prompts.csv",
                b"prompt,topic\nBest CRM?,crm\nTop ERP?,erp\n",
                "text/csv",
            )
        },
        headers=origin(client),
    )
    assert response.status_code == 303, response.text
    html = await page(client, response.headers["location"])
    assert "Topic: crm" in text_of(html) and "Topic: erp" in text_of(html)


async def test_bad_prompts_are_shown_beside_the_field_with_the_line(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    profile_id = await _profile(app, client)
    duplicate = await _create(client, profile_id, prompts="Best CRM?\n\nbest  CRM?\n")
    assert duplicate.status_code == 422
    assert "line 3: the same prompt as line 1" in duplicate.text
    assert "best  CRM?" in duplicate.text  # what was typed is kept
    no_profile = await _create(client, "")
    assert no_profile.status_code == 422
    assert "Choose a brand profile, or type your brand&#39;s name here." in no_profile.text
    token = csrf_token(await page(client, "/trackers/new"))
    bad_file = await client.post(
        "/trackers/new",
        data={
            "csrf_token": token,
            "name": "x",
            "brand_profile_id": profile_id,
            "providers": "demo",
            "iterations": "3",
        },
        files={"prompts_file": ("p.csv", b"question\nBest CRM?\n", "text/csv")},
        headers=origin(client),
    )
    assert bad_file.status_code == 422 and "line 1: the header must name" in text_of(bad_file.text)
    assert "No tracker yet" in await page(client, "/trackers")


async def test_suggested_candidates_are_ticked_into_the_tracker(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    profile_id = await _profile(app, client)
    suggested = await _create(client, profile_id, action="suggest", category="CRM software")
    assert suggested.status_code == 200
    text = text_of(suggested.text)
    assert "Candidates from demo" in text and "synthetic" in text
    assert "Is HubSpot better than Salesforce?" in text
    assert "No tracker yet" in await page(client, "/trackers")  # nothing stored yet
    created = await _create(
        client,
        profile_id,
        candidates=["Is HubSpot better than Salesforce?", "Best CRM for a startup?"],
    )
    assert created.status_code == 303, created.text
    html = await page(client, created.headers["location"])
    assert html.count('href="/experiments/') == 4  # three typed, one new ticked, one already there
    no_brand = await _create(client, "", action="suggest")
    assert no_brand.status_code == 200  # htmx swaps it in: the reason is in the list's place
    assert "Choose a brand profile, or type your brand" in text_of(no_brand.text)
    typed = await _create(
        client,
        "",
        action="suggest",
        category="CRM software",
        **{"brand.name": "Attio", "competitors.0.name": "Folk"},
    )
    assert typed.status_code == 200
    assert "Is Attio better than Folk?" in text_of(typed.text)  # from the typed brands


async def _typed(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    data: dict[str, str | list[str]] = {
        "name": "Typed brands",
        "brand_profile_id": "",
        "providers": ["demo"],
        "iterations": "4",
        "prompts": PROMPTS,
        **fields,
    }
    return await post_form(client, "/trackers/new", data, token_from="/trackers/new")


async def test_brands_typed_in_the_form_create_the_tracker_without_a_profile(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    form = await page(client, "/trackers/new")
    assert 'name="brand.name"' in form and 'name="competitors.2.name"' in form
    empty = {f"competitors.{n}.name": "" for n in range(3)}  # as a browser sends them
    more = await _typed(client, action="add_competitor", **{"brand.name": "HubSpot", **empty})
    assert more.status_code == 200 and 'name="competitors.3.name"' in more.text
    assert 'value="HubSpot"' in more.text  # what was typed is kept
    assert "No tracker yet" in await page(client, "/trackers")

    bad = await _typed(client, **{"brand.name": "HubSpot", "competitors.0.name": "hubspot"})
    assert bad.status_code == 422 and 'id="e-f-competitors-0-name"' in bad.text

    created = await _typed(
        client,
        **{
            "brand.name": "HubSpot",
            "brand.domains": "hubspot.com",
            "competitors.0.name": "Salesforce",
            "competitors.1.name": "",
            "competitors.2.name": "Pipedrive",
        },
    )
    assert created.status_code == 303, created.text
    location = created.headers["location"]

    async def all_done() -> bool:
        return "no complete run" not in await page(client, location)

    await wait_until(all_done, within=60, message="the prompts did not finish")
    text = text_of(await page(client, location))
    assert "Target HubSpot" in text and "Salesforce" in text and "Pipedrive" in text


async def test_the_tracker_page_charts_its_figures_and_downloads_them(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    profile_id = await _profile(app, client)
    created = await _create(client, profile_id)
    location = created.headers["location"]

    async def all_done() -> bool:
        return "no complete run" not in await page(client, location)

    await wait_until(all_done, within=60, message="the prompts did not finish")
    html = await page(client, location)
    found = re.search(r"<div id=\"chart-data\" hidden data-charts='(.*?)'></div>", html)
    assert found is not None
    charts = json.loads(html_module.unescape(found.group(1)))
    assert charts["groups"]["labels"] == ["Overall", "Topic: startups", "No topic"]
    overall = charts["groups"]["rates"][0]
    assert overall["n"] == 15 and overall["low"] <= overall["value"] <= overall["high"]
    assert "trend" not in charts  # one run so far: no figure over time
    assert 'data-chart="groups"' in html and "charts." in html
    assert f'href="{location}/export.csv"' in html

    download = await client.get(f"{location}/export.csv")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == COLUMNS and len(rows) > 10
    assert (await client.get(f"{location}/export.json")).json()["synthetic"] is True
