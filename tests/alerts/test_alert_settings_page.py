"""Settings → Alerts: every rule of the workspace (an experiment's with a link to its
page), workspace-wide rules made (secret shown once, after a redirect), edited and
deleted there, errors beside their fields, the recent deliveries with their status; a
member reads it but cannot change rules; an experiment's rule is changed on its page."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.workspaces.models import Role
from tests.alerts.receiver import Receiver
from tests.experiments.test_significance_api import BODY, run_again
from tests.kit import wait_finished, wait_until
from tests.web.pages import page, post_form, text_of
from tests.web.workspace_pages import (
    add_member,
    personal_workspace,
    second_client,
    signed_in,
    switch_to,
)

pytestmark = pytest.mark.usefixtures("backend")

PATH = "/settings/alerts"


def _form(**change: str | list[str]) -> dict[str, str | list[str]]:
    return {
        "name": "Every experiment",
        "metrics": ["visibility"],
        "brands": "HubSpot, Salesforce",
        "providers": "",
        "min_effect_points": "10",
        "compare_with": "previous",
        "level": "0.05",
        "email_to": "team@example.com",
        "webhook_url": "",
        "webhook_format": "signed",
        "enabled": "on",
        **change,
    }


async def test_workspace_wide_rules_are_managed_and_deliveries_listed(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    user = await signed_in(client)
    created = await client.post("/v1/experiments", headers=user, json=BODY)
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, user)
    assert f'href="{PATH}"' in await page(client, "/settings")  # in the settings' nav
    assert f'href="{PATH}"' in await page(client, f"/experiments/{experiment_id}/alerts")
    empty = text_of(await page(client, PATH))
    assert "No alert rule yet." in empty and "No alert has been delivered yet." in empty

    bad = await post_form(client, PATH, _form(name="", level="2"), token_from=PATH)
    assert bad.status_code == 422
    assert re.search(r'id="e-name">Required\.<', bad.text)
    assert re.search(r'id="e-level">At most 0\.5\.<', bad.text)
    assert 'value="HubSpot, Salesforce"' in bad.text  # as typed

    made = await post_form(client, PATH, _form(webhook_url=receiver.url), token_from=PATH)
    assert made.status_code == 303 and made.headers["location"] == PATH
    shown = await page(client, PATH)
    assert re.search(r'id="webhook-secret" type="text" readonly value="whsec_', shown)
    again = await page(client, PATH)  # a reload: no secret, one rule
    assert "whsec_" not in again and again.count("/settings/alerts/") == 2  # edit, delete
    row = text_of(again[again.index("<tbody>") : again.index("</tbody>")])
    assert "Every experiment" in row and "every experiment" in row
    assert "brands HubSpot, Salesforce" in row and "10 points" in row

    # An experiment's own rule is listed, linked to its page, and edited there.
    own = await client.post(
        "/v1/alerts/rules",
        headers=user,
        json={"name": "Its own", "experiment_id": experiment_id, "metrics": ["top1"]},
    )
    assert own.status_code == 201, own.text
    listed = await page(client, PATH)
    assert f'href="/experiments/{experiment_id}/alerts"' in listed and "Its own" in listed
    own_id = own.json()["id"]
    moved = await client.get(f"{PATH}/{own_id}/edit", headers={"Accept": "text/html"})
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/experiments/{experiment_id}/alerts/{own_id}/edit"
    kept = await post_form(client, f"{PATH}/{own_id}", _form(name="Hijacked"), token_from=PATH)
    assert kept.status_code == 303 and "Hijacked" not in await page(client, PATH)

    wide_id = re.search(rf"{PATH}/([0-9a-f-]+)/edit", again)
    assert wide_id
    edit = await page(client, f"{PATH}/{wide_id.group(1)}/edit")
    assert 'value="Every experiment"' in edit and "Save the rule" in edit
    saved = await post_form(
        client,
        f"{PATH}/{wide_id.group(1)}",
        _form(name="Visibility anywhere", brands="", webhook_url=receiver.url),
        token_from=PATH,
    )
    assert saved.status_code == 303  # the webhook kept its secret: nothing to show
    assert "whsec_" not in await page(client, PATH)

    # A run that changed: the workspace-wide rule fires; its deliveries show here.
    await run_again(app, experiment_id, {"HubSpot": 0.95})
    await wait_until(lambda: len(receiver.received) == 1, message="no webhook arrived")

    async def delivered() -> bool:
        return ">sent</strong>" in await page(client, PATH)

    await wait_until(delivered, message="the webhook's delivery is not shown as sent")
    deliveries = text_of((await page(client, PATH)).split('id="deliveries-title"')[1])
    assert "Visibility anywhere" in deliveries and "run 2" in deliveries
    assert "email team@example.com mailed" in deliveries and "synthetic" in deliveries
    assert f"webhook {receiver.url} sent" in deliveries

    gone = await post_form(client, f"{PATH}/{wide_id.group(1)}/delete", {}, token_from=PATH)
    assert gone.status_code == 303
    assert "Visibility anywhere" not in (await page(client, PATH)).split('id="deliveries')[0]


async def test_a_member_reads_the_settings_but_cannot_change_rules(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await signed_in(client)
    made = await post_form(client, PATH, _form(), token_from=PATH)
    assert made.status_code == 303
    workspace_id = await personal_workspace(app, "ada@example.com")
    other = second_client(app)
    await signed_in(other, "bob@example.com")
    await add_member(app, str(workspace_id), "bob@example.com", Role.MEMBER)
    await switch_to(other, str(workspace_id))
    seen = await page(other, PATH)
    assert "Every experiment" in seen and "Only the workspace's owners and admins" in seen
    assert "Create the rule" not in seen and "/edit" not in seen
    refused = await post_form(other, PATH, _form(name="Bob's"), token_from=PATH)
    assert refused.status_code == 403
    await other.aclose()
