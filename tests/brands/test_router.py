"""Brand profiles over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.kit import register_and_login

pytestmark = pytest.mark.usefixtures("backend")

PROFILE: dict[str, Any] = {
    "brand": {"name": "HubSpot", "aliases": ["HubSpot CRM"], "domains": ["hubspot.com"]},
    "competitors": [{"name": "Salesforce"}, {"name": "Zoho CRM", "aliases": ["Zoho"]}],
    "description": "All-in-one CRM",
    "target_keywords": ["best crm for startups", "crm for small business"],
}


async def test_brand_profile_lifecycle(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    created = await client.post("/v1/brands", headers=ada, json=PROFILE)
    assert created.status_code == 201
    profile = created.json()
    assert profile["name"] == "HubSpot"
    assert profile["brands"]["target"]["domains"] == ["hubspot.com"]
    assert [c["name"] for c in profile["brands"]["competitors"]] == ["Salesforce", "Zoho CRM"]

    # The stored brands can be used as they are in an experiment.
    experiment = await client.post(
        "/v1/experiments",
        headers=ada,
        json={"prompt": "best crm?", "brands": profile["brands"], "iterations": 2},
    )
    assert experiment.status_code == 202

    changed = await client.put(
        f"/v1/brands/{profile['id']}", headers=ada, json={**PROFILE, "competitors": []}
    )
    assert changed.status_code == 200 and changed.json()["brands"]["competitors"] == []
    listed = (await client.get("/v1/brands", headers=ada)).json()
    assert [item["id"] for item in listed["items"]] == [profile["id"]]
    assert (await client.delete(f"/v1/brands/{profile['id']}", headers=ada)).status_code == 204
    assert (await client.get(f"/v1/brands/{profile['id']}", headers=ada)).status_code == 404
    events = (await client.get("/v1/audit-events", headers=ada)).json()["items"]
    about_profile = [
        (event["action"], event["actor_type"])
        for event in reversed(events)
        if event["target_id"] == profile["id"]
    ]
    assert about_profile == [
        ("brand_profile.created", "user"),
        ("brand_profile.replaced", "user"),
        ("brand_profile.deleted", "user"),
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"competitors": [{"name": f"B{i}x"} for i in range(51)]}, "at most 50"),
        ({"brand": {"name": "HubSpot", "aliases": [f"a{i}xx" for i in range(21)]}}, "at most 20"),
        ({"competitors": [{"name": "hubspot"}]}, "listed twice"),
        ({"target_keywords": ["k"] * 51}, "at most 50"),
        ({"description": "x" * 2001}, "at most 2000"),
    ],
)
async def test_limits_are_enforced_with_clear_messages(
    client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    response = await client.post("/v1/brands", headers=ada, json={**PROFILE, **change})
    assert response.status_code == 422
    assert message in str(response.json()["error"]["details"])


async def test_other_workspaces_see_nothing(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    profile_id = (await client.post("/v1/brands", headers=ada, json=PROFILE)).json()["id"]
    assert (await client.get(f"/v1/brands/{profile_id}", headers=bob)).status_code == 404
    assert (
        await client.put(f"/v1/brands/{profile_id}", headers=bob, json=PROFILE)
    ).status_code == 404
    assert (await client.delete(f"/v1/brands/{profile_id}", headers=bob)).status_code == 404
    assert (await client.get("/v1/brands", headers=bob)).json()["items"] == []
