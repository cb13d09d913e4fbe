"""The audit log: events recorded by the API, readable by owners and admins only."""

from __future__ import annotations

import httpx
import pytest

from tests.kit import login_response, register, wait_finished

pytestmark = pytest.mark.usefixtures("backend")

AUDIT_UA = {"User-Agent": "audit-test/1.0"}


async def test_security_and_data_events_are_recorded(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    assert (
        await login_response(client, "ada@example.com", "wrong password!", headers=AUDIT_UA)
    ).status_code == 401
    token = (await login_response(client, "ada@example.com", headers=AUDIT_UA)).json()[
        "access_token"
    ]
    owner = {"Authorization": f"Bearer {token}"}
    key = (await client.post("/v1/api-keys", headers=owner, json={"name": "ci"})).json()
    await client.delete(f"/v1/api-keys/{key['id']}", headers=owner)
    experiment = await client.post(
        "/v1/experiments",
        headers=owner,
        json={
            "prompt": "best crm?",
            "brands": {"target": {"name": "HubSpot"}},
            "iterations": 2,
        },
    )
    experiment_id = experiment.json()["id"]
    await wait_finished(client, experiment_id, owner)
    await client.get(f"/v1/experiments/{experiment_id}/export.csv", headers=owner)
    await client.delete(f"/v1/experiments/{experiment_id}", headers=owner)

    events = (await client.get("/v1/audit-events", headers=owner)).json()["items"]
    actions = [event["action"] for event in reversed(events)]
    assert actions == [
        "user.registered",
        "privacy.consent_given",  # the terms and privacy policy accepted at sign-up
        "auth.login_failed",
        "auth.login_succeeded",
        "api_key.created",
        "api_key.revoked",
        "experiment.created",
        "experiment.exported",
        "experiment.deleted",
    ]
    login = next(event for event in events if event["action"] == "auth.login_succeeded")
    assert login["user_agent"] == "audit-test/1.0" and login["ip"]
    assert login["actor_user_id"] is not None
    kinds = {event["action"]: event["actor_type"] for event in events}
    assert kinds["auth.login_failed"] == "anonymous"
    assert kinds["auth.login_succeeded"] == kinds["experiment.created"] == "user"
    created = next(event for event in events if event["action"] == "api_key.created")
    assert created["target_id"] == key["id"] and "key" not in str(created["details"])


async def test_failed_logins_of_unknown_emails_do_not_reach_a_workspace(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ada@example.com")
    await login_response(client, "nobody@example.com", headers=AUDIT_UA)
    token = (await login_response(client, "ada@example.com", headers=AUDIT_UA)).json()[
        "access_token"
    ]
    events = (
        await client.get("/v1/audit-events", headers={"Authorization": f"Bearer {token}"})
    ).json()["items"]
    assert "auth.login_failed" not in [event["action"] for event in events]


async def test_only_owners_and_admins_read_the_log(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    token = (await login_response(client, "ada@example.com", headers=AUDIT_UA)).json()[
        "access_token"
    ]
    owner = {"Authorization": f"Bearer {token}"}
    key = (await client.post("/v1/api-keys", headers=owner, json={"name": "ci"})).json()["key"]
    denied = await client.get("/v1/audit-events", headers={"Authorization": f"Bearer {key}"})
    assert denied.status_code == 403
    assert (await client.get("/v1/audit-events")).status_code == 401
