"""Brand profile pages: list (empty and not), create with competitors, add a competitor
without JavaScript, validation errors beside the right input with what was typed kept,
edit (a profile sent back unchanged is stored unchanged), delete with confirmation, a
viewer's read-only view, forged writes, another workspace's profile, CSRF.

:func:`form_data` reads a page's form as a browser would send it; the experiment form and
re-score tests use it too (the same brand editor is on all three pages)."""

from __future__ import annotations

import re
import uuid

import httpx
from fastapi import FastAPI

from echo_ai.brands import service as brand_service
from echo_ai.db import transaction
from echo_ai.workspaces.models import Role
from tests.kit import app_runtime
from tests.web.pages import (
    HTML,
    case_rule,
    error_beside,
    form_data,
    origin,
    page,
    post_form,
    sign_up,
)
from tests.web.workspace_pages import (
    personal_workspace,
    second_client,
    team_with,
    without_csrf,
)

HUBSPOT = {
    "brand.name": "HubSpot",
    "brand.aliases": "HubSpot CRM\n",
    "brand.case_aliases": "",
    "brand.domains": "https://www.hubspot.com/pricing\nhubspot.com",
    "brand.exclude_terms": "",
    "competitors.0.name": "Monday Sales CRM",
    "competitors.0.aliases": "monday.com",
    "competitors.0.case_aliases": "Monday",
    "competitors.0.domains": "monday.com",
    "competitors.0.exclude_terms": "on Monday\nevery Monday",
    "competitors.1.name": "",
    "competitors.2.name": "Close",
    "competitors.2.case_sensitive": "1",
    "competitors.2.exclude_terms": "Close the deal",
    "description": "CRM for small teams",
    "target_keywords": "best CRM\nCRM for startups",
}


async def _create(client: httpx.AsyncClient, data: dict[str, str] | None = None) -> str:
    response = await post_form(client, "/brands/new", data or HUBSPOT, token_from="/brands/new")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/brands/[0-9a-f-]{36}\?saved=1", location)
    return location.split("?")[0]


async def test_empty_list_offers_the_first_profile(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    html = await page(client, "/brands")
    assert "No brand profile yet" in html and 'href="/brands/new"' in html


async def test_create_a_profile_with_competitors_and_see_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    form = await page(client, "/brands/new")
    assert form.count("<fieldset") == 4  # the brand and three empty competitors
    assert all(
        f'for="{id_}"' in form for id_ in re.findall(r'<(?:input|textarea) id="([^"]+)"', form)
    )
    path = await _create(client)
    profile_id = uuid.UUID(path.rsplit("/", 1)[1])
    workspace_id = await personal_workspace(app, "ada@example.com")
    async with transaction(app_runtime(app).session_factory) as session:
        stored = await brand_service.get(session, workspace_id, profile_id)
    brands = stored.brands
    assert brands["target"]["domains"] == ["hubspot.com"]
    assert [c["name"] for c in brands["competitors"]] == ["Monday Sales CRM", "Close"]
    monday = brands["competitors"][0]
    assert monday["aliases"] == [
        {"text": "monday.com", "case_sensitive": None},
        {"text": "Monday", "case_sensitive": True},
    ]
    assert brands["competitors"][1]["case_sensitive"] is True
    assert stored.target_keywords == ["best CRM", "CRM for startups"]

    html = await page(client, path + "?saved=1")
    assert "Brand profile saved." in html
    assert ">Monday</textarea>" in html and ">on Monday\nevery Monday</textarea>" in html
    assert case_rule(html, "competitors.1.case_sensitive") == "1"  # Close
    assert case_rule(html, "competitors.0.case_sensitive") == ""
    listing = await page(client, "/brands")
    assert "HubSpot" in listing and "Monday Sales CRM, Close" in listing


async def test_add_another_competitor_renders_one_more_without_saving(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    response = await post_form(
        client, "/brands/new", {**HUBSPOT, "action": "add_competitor"}, token_from="/brands/new"
    )
    assert response.status_code == 200
    assert response.text.count("<fieldset") == 5
    assert 'name="competitors.3.name"' in response.text
    assert 'value="Monday Sales CRM"' in response.text  # what was typed is kept
    assert ">on Monday\nevery Monday</textarea>" in response.text
    assert case_rule(response.text, "competitors.2.case_sensitive") == "1"
    assert ">CRM for small teams</textarea>" in response.text
    # The button posts the form to its own page, to the new competitor; Enter in a text
    # box submits with the hidden first button (saves), not with "add".
    assert 'formaction="/brands/new#competitor-5"' in response.text
    buttons = re.findall(r"<button[^>]*>", response.text.split('action="/brands/new"')[1])
    assert 'aria-hidden="true"' in buttons[0] and "name=" not in buttons[0]
    assert 'value="add_competitor"' in buttons[1]
    assert "No brand profile yet" in await page(client, "/brands")


async def test_an_unchanged_profile_is_stored_unchanged(client: httpx.AsyncClient) -> None:
    """Every setting of every brand has its input: a profile shown in the form and sent
    back as it is comes back as stored (case rules of names and aliases included)."""
    await sign_up(client)
    brands = {
        "brand": {
            "name": "Close",
            "case_sensitive": False,
            "aliases": [
                "Close CRM",
                {"text": "CLOSE", "case_sensitive": True},
                {"text": "close.com app", "case_sensitive": False},
            ],
            "domains": ["close.com", "close.io"],
            "exclude_terms": ["close the deal", "up close"],
        },
        "competitors": [
            {"name": "HP", "case_sensitive": True, "domains": ["hp.com"]},
            {
                "name": "Monday Sales CRM",
                "aliases": ["monday.com", {"text": "Monday", "case_sensitive": True}],
                "exclude_terms": ["on Monday"],
            },
        ],
        "description": "CRM\nfor small teams",
        "target_keywords": ["best CRM"],
    }
    created = await client.post(
        "/v1/brands",
        json=brands,
        headers={"X-CSRF-Token": client.cookies["echo_csrf"], **origin(client)},
    )
    assert created.status_code == 201, created.text
    stored = created.json()
    path = f"/brands/{stored['id']}"
    html = await page(client, path)
    assert case_rule(html, "brand.case_sensitive") == "0"
    assert case_rule(html, "competitors.0.case_sensitive") == "1"
    assert ">Close CRM</textarea>" in html and ">CLOSE</textarea>" in html
    assert ">close.com app</textarea>" in html
    assert '<details class="brand-more" open>' in html  # it has an alias in any case
    response = await client.post(path, data=form_data(html, path), headers=origin(client))
    assert response.status_code == 303, response.text
    again = (await client.get(f"/v1/brands/{stored['id']}")).json()
    assert again["brands"] == stored["brands"]
    assert again["description"] == stored["description"]
    assert again["target_keywords"] == stored["target_keywords"]


async def test_errors_are_shown_beside_their_input_and_the_input_is_kept(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    bad = {
        **HUBSPOT,
        "brand.domains": "hubspot.com\nnot a domain",
        "competitors.0.case_aliases": "Monday\nx",  # second alias of the list: one letter
        "competitors.2.name": "HP",  # short and not marked as written
        "competitors.2.case_sensitive": "",
    }
    response = await post_form(client, "/brands/new", bad, token_from="/brands/new")
    assert response.status_code == 422
    html = response.text
    assert "not a valid domain" in error_beside(html, "brand.domains")
    assert "too short" in error_beside(html, "competitors.0.case_aliases")
    assert "shorter than 3" in error_beside(html, "competitors.2.name")
    assert 'aria-invalid="true"' in html
    assert ">hubspot.com\nnot a domain</textarea>" in html
    assert 'value="HP"' in html

    twice = {**HUBSPOT, "competitors.2.name": "hubspot", "competitors.2.case_sensitive": ""}
    response = await post_form(client, "/brands/new", twice, token_from="/brands/new")
    assert response.status_code == 422
    assert "listed twice" in error_beside(response.text, "competitors.2.name")

    any_case = {**HUBSPOT, "competitors.2.any_case_aliases": "Close CRM\nx"}
    response = await post_form(client, "/brands/new", any_case, token_from="/brands/new")
    assert response.status_code == 422
    assert "too short" in error_beside(response.text, "competitors.2.any_case_aliases")
    assert '<details class="brand-more" open>' in response.text  # the box with the error shows

    keyword = {**HUBSPOT, "target_keywords": "best CRM\n" + "x" * 101}
    response = await post_form(client, "/brands/new", keyword, token_from="/brands/new")
    assert response.status_code == 422
    assert "At most 100 characters" in error_beside(response.text, "target_keywords")

    blank = {**HUBSPOT, "brand.name": "  "}
    response = await post_form(client, "/brands/new", blank, token_from="/brands/new")
    assert response.status_code == 422
    assert error_beside(response.text, "brand.name")
    assert "No brand profile yet" in await page(client, "/brands")


async def test_edit_and_delete_with_confirmation(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    path = await _create(client)
    edited = {**HUBSPOT, "competitors.2.name": "Pipedrive", "competitors.2.case_sensitive": ""}
    response = await post_form(client, path, edited, token_from=path)
    assert response.status_code == 303
    html = await page(client, path)
    assert 'value="Pipedrive"' in html and 'value="Close"' not in html

    bad = await post_form(client, path, {**edited, "brand.name": ""}, token_from=path)
    assert bad.status_code == 422 and error_beside(bad.text, "brand.name")

    confirm = await page(client, path + "/delete")
    assert "Delete the brand profile" in confirm and f'action="{path}/delete"' in confirm
    response = await post_form(client, path + "/delete", token_from=path + "/delete")
    assert response.status_code == 303 and response.headers["location"] == "/brands?deleted=1"
    await page(client, path, status=404)
    assert "Brand profile deleted." in await page(client, "/brands?deleted=1")


async def test_a_viewer_reads_without_controls_and_cannot_write(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, viewer = await team_with(app, client, Role.VIEWER)
    path = await _create(client)
    listing = await page(viewer, "/brands")
    assert "HubSpot" in listing and "/brands/new" not in listing
    html = await page(viewer, path)
    assert "Read-only" in html and "<form" not in html.split("<main")[1].split("</main>")[0]
    assert "monday.com" in html and "Monday" in html and "(as written)" in html
    await page(viewer, "/brands/new", status=403)
    await page(viewer, path + "/delete", status=403)
    for target in ("/brands/new", path, path + "/delete"):
        assert (await post_form(viewer, target, HUBSPOT)).status_code == 403
    assert "HubSpot" in await page(client, path)


async def test_a_member_edits(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, member = await team_with(app, client, Role.MEMBER)
    path = await _create(client)
    html = await page(member, path)
    assert "Save changes" in html and "Delete…" in html


async def test_another_workspace_profile_is_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    path = await _create(client)
    other = second_client(app)
    await sign_up(other, "eve@example.com")
    await page(other, path, status=404)
    await page(other, path + "/delete", status=404)
    assert (await post_form(other, path, HUBSPOT)).status_code == 404
    assert (await post_form(other, path + "/delete")).status_code == 404
    await page(other, "/brands/not-an-id", status=400)  # a friendly page, not a 500


async def test_writes_need_the_csrf_token(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    path = await _create(client)
    assert await without_csrf(client, "/brands/new") == 403
    assert await without_csrf(client, path) == 403
    assert await without_csrf(client, path + "/delete") == 403
    assert "HubSpot" in await page(client, path)
    response = await client.get("/brands/new", headers=HTML)
    assert response.status_code == 200
