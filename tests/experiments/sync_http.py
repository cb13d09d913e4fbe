"""Users and experiments over real HTTP, synchronously (the ``http`` fixture's client)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.kit import FINISHED, PASSWORD, bearer, wait_until_sync

BRANDS = {
    "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
    "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
}


def signed_up(http: httpx.Client, email: str = "ada@example.com") -> dict[str, str]:
    """A new user's ``Authorization`` headers (their personal workspace is on free)."""
    credentials = {"email": email, "password": PASSWORD}
    registered = http.post("/auth/register", json={**credentials, "accept_terms": True})
    assert registered.status_code == 201, registered.text
    login = http.post("/auth/login", json=credentials)
    assert login.status_code == 200, login.text
    return bearer(login.json()["access_token"])


def experiment(providers: list[str], iterations: int) -> dict[str, Any]:
    """An experiment's body."""
    return {
        "prompt": "What is the best CRM for a 10-person startup?",
        "brands": BRANDS,
        "providers": providers,
        "iterations": iterations,
    }


def finished(
    http: httpx.Client, experiment_id: str, headers: dict[str, str], within: float = 60.0
) -> dict[str, Any]:
    """The experiment's detail once it has finished."""
    detail: dict[str, Any] = {}

    def done() -> bool:
        nonlocal detail
        response = http.get(f"/v1/experiments/{experiment_id}", headers=headers)
        assert response.status_code == 200, response.text
        detail = response.json()
        return detail["status"] in FINISHED

    wait_until_sync(done, within=within, message=lambda: f"not finished: {detail}")
    return detail
