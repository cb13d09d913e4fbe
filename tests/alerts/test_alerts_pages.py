"""The Alerts page of an experiment: create a rule through its form (the webhook's secret
shown once), errors beside their fields, edit, the alerts fired with their delivery log,
delete; a member reads it but cannot change it."""

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


def _form(receiver: Receiver, **change: str | list[str]) -> dict[str, str | list[str]]:
    return {
        "name": "HubSpot visibility",
        "metrics": ["visibility", "mention_rate"],
        "providers": "",
        "min_effect_points": "10",
        "compare_with": "previous",
        "level": "0.05",
        "email_to": "team@example.com, cto@example.com",
        "webhook_url": receiver.url,
        "webhook_format": "signed",
        "enabled": "on",
        **change,
    }


async def test_rules_are_made_on_the_page_and_alerts_show_with_their_log(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    user = await signed_in(client)
    created = await client.post("/v1/experiments", headers=user, json=BODY)
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, user)
    path = f"/experiments/{experiment_id}/alerts"
    assert f'href="{path}"' in await page(client, f"/experiments/{experiment_id}")
    assert "No rule watches this experiment yet." in text_of(await page(client, path))

    bad = await post_form(
        client, path, _form(receiver, name="", level="2", email_to="nope"), token_from=path
    )
    assert bad.status_code == 422
    assert re.search(r'id="e-name">Required\.<', bad.text)
    assert re.search(r'id="e-level">At most 0\.5\.<', bad.text)
    assert 'id="e-email_to"' in bad.text and 'value="nope"' in bad.text

    made = await post_form(client, path, _form(receiver), token_from=path)
    assert made.status_code == 303, made.text  # Post/Redirect/Get
    assert made.headers["location"] == path and "whsec_" not in made.text
    shown = await page(client, path)
    secret = re.search(r'id="webhook-secret" type="text" readonly value="(whsec_[^"]+)"', shown)
    assert secret, "the secret is shown on the page the form redirects to"
    again = await page(client, path)  # a reload
    assert "whsec_" not in again, "the secret is shown once"
    assert again.count("/edit") == 1, "one rule, made once"
    assert "HubSpot visibility" in again and "cto@example.com" in again

    rule_id = re.search(rf"{path}/([0-9a-f-]+)/edit", again)
    assert rule_id
    edit = await page(client, f"{path}/{rule_id.group(1)}/edit")
    assert 'value="HubSpot visibility"' in edit and "Save the rule" in edit
    saved = await post_form(
        client,
        f"{path}/{rule_id.group(1)}",
        _form(receiver, name="Visibility moved", metrics=["visibility"]),
        token_from=path,
    )
    assert saved.status_code == 303  # the webhook kept its secret: nothing to show

    await run_again(app, experiment_id, {"HubSpot": 0.95})
    await wait_until(lambda: len(receiver.received) == 1, message="no webhook arrived")

    async def logged() -> bool:
        return "<td>200</td>" in await page(client, path)

    await wait_until(logged, message="the delivery log shows no 200")
    shown = text_of(await page(client, path))
    assert "Visibility moved" in shown and "run 2 vs 1" in shown and "synthetic" in shown
    assert "visibility, all providers" in shown
    assert "email team@example.com: mailed" in shown and "webhook" in shown

    gone = await post_form(client, f"{path}/{rule_id.group(1)}/delete", {}, token_from=path)
    assert gone.status_code == 303
    assert "No rule watches this experiment yet." in text_of(await page(client, path))


async def test_a_member_reads_the_page_but_cannot_change_rules(
    client: httpx.AsyncClient, app: FastAPI, receiver: Receiver
) -> None:
    owner = await signed_in(client)
    created = await client.post("/v1/experiments", headers=owner, json=BODY)
    experiment_id = created.json()["id"]
    path = f"/experiments/{experiment_id}/alerts"
    workspace_id = await personal_workspace(app, "ada@example.com")
    other = second_client(app)
    await signed_in(other, "bob@example.com")
    await add_member(app, str(workspace_id), "bob@example.com", Role.MEMBER)
    await switch_to(other, str(workspace_id))
    seen = await page(other, path)
    assert "Only the workspace's owners and admins" in seen and "Create the rule" not in seen
    refused = await post_form(other, path, _form(receiver), token_from=path)
    assert refused.status_code == 403
    await other.aclose()
