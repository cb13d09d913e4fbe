"""Settings → Provider keys without a browser: owners and admins store, replace and delete
a workspace's keys; the key is never shown again (nor sent back with a form error); members
and viewers neither see nor reach the page."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.credentials.models import ProviderCredential
from echo_ai.db import transaction
from echo_ai.workspaces.models import Role
from tests.kit import app_runtime
from tests.web.pages import page, post_form, sign_up
from tests.web.workspace_pages import (
    add_member,
    personal_workspace,
    second_client,
    switch_to,
    text_of,
)

KEY = "sk-page-Secret-Value-5150"
OTHER = "sk-ant-page-Secret-6262"
PATH = "/settings/provider-keys"


def _error_beside(html: str, name: str) -> str:
    found = re.search(rf'id="e-{re.escape(name)}">([^<]+)</p>', html)
    assert found, f"no error beside {name}"
    return found.group(1)


async def test_store_replace_and_delete_a_key_which_is_never_shown(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    empty = await page(client, PATH)
    assert "No provider key stored" in empty and 'type="password"' in empty
    assert f'href="{PATH}" aria-current="page"' in empty

    stored = await post_form(client, PATH, {"vendor": "openai", "api_key": KEY}, token_from=PATH)
    assert stored.status_code == 200
    assert f"The OpenAI key …{KEY[-4:]} was stored." in stored.text
    replaced = await post_form(
        client, PATH, {"vendor": "openai", "api_key": OTHER}, token_from=PATH
    )
    assert replaced.status_code == 200

    html = await page(client, PATH)
    row = text_of(html[html.index("<tbody>") : html.index("</tbody>")])
    assert "OpenAI" in row and f"…{OTHER[-4:]}" in row and "ada@example.com" in row
    for body in (stored.text, replaced.text, html):
        assert KEY not in body and OTHER not in body and KEY[:-4] not in body
    async with transaction(app_runtime(app).session_factory) as session:
        (row_stored,) = await session.scalars(select(ProviderCredential))
        assert OTHER not in row_stored.api_key_encrypted

    deleted = await post_form(client, f"{PATH}/openai/delete", token_from=PATH)
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("done=deleted")
    after = await page(client, f"{PATH}?done=deleted")
    assert "The key was deleted" in after and "No provider key stored" in after
    missing = await post_form(client, f"{PATH}/openai/delete", token_from=PATH)
    assert missing.status_code == 404


async def test_form_errors_come_back_beside_the_field_without_the_key(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    short = await post_form(client, PATH, {"vendor": "gemini", "api_key": "short"}, token_from=PATH)
    assert short.status_code == 422 and "at least 8" in _error_beside(short.text, "api_key")
    assert 'value="gemini" selected' in short.text

    no_url = await post_form(
        client, PATH, {"vendor": "openai_compatible", "api_key": KEY}, token_from=PATH
    )
    assert no_url.status_code == 422 and "base URL" in _error_beside(no_url.text, "base_url")

    private = await post_form(
        client,
        PATH,
        {"vendor": "openai_compatible", "api_key": KEY, "base_url": "http://10.0.0.7:8000/v1"},
        token_from=PATH,
    )
    assert private.status_code == 422
    assert "10.0.0.7" in _error_beside(private.text, "base_url")
    assert 'value="http://10.0.0.7:8000/v1"' in private.text  # what was typed, but the key
    for response in (short, no_url, private):
        assert KEY not in response.text
    assert "No provider key stored" in await page(client, PATH)


async def test_members_and_viewers_neither_see_nor_reach_the_page(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    workspace_id = str(await personal_workspace(app, "ada@example.com"))
    others = []
    for email, role in (("bob@example.com", Role.MEMBER), ("vic@example.com", Role.VIEWER)):
        other = second_client(app)
        await sign_up(other, email)
        await add_member(app, workspace_id, email, role)
        await switch_to(other, workspace_id)
        others.append(other)
    member, viewer = others
    assert f'href="{PATH}"' in await page(client, "/settings/members")
    for other in (member, viewer):
        assert f'href="{PATH}"' not in await page(other, "/settings/members")
        await page(other, PATH, status=403)
        forged = await post_form(other, PATH, {"vendor": "openai", "api_key": KEY})
        assert forged.status_code == 403
    assert "No provider key stored" in await page(client, PATH)


async def test_a_stored_key_makes_its_vendor_selectable_in_the_experiment_form(
    client: httpx.AsyncClient,
) -> None:
    # No vendor is configured on this server (tests/web/conftest.py): only the demo.
    await sign_up(client)
    form = await page(client, "/experiments/new")
    assert re.search(r'id="p-openai"[^>]*\sdisabled', form)
    await post_form(client, PATH, {"vendor": "openai", "api_key": KEY}, token_from=PATH)
    form = await page(client, "/experiments/new")
    assert not re.search(r'id="p-openai"[^>]*\sdisabled', form)
    assert re.search(r'id="p-anthropic"[^>]*\sdisabled', form)  # still the server's rule
    assert 'id="f-model_openai"' in form
