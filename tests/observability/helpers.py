"""Helpers for the observability tests: a signed-in user, a finished experiment, a scrape."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from echo_ai.observability.server import render_latest

PASSWORD = "correct horse battery staple"
EXPERIMENT: dict[str, Any] = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]},
    "providers": ["demo"],
    "iterations": 5,
}


async def sign_in(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, str]:
    await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def run_experiment(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    created = await client.post("/v1/experiments", headers=headers, json=EXPERIMENT)
    assert created.status_code == 202, created.text
    url = f"/v1/experiments/{created.json()['id']}"
    for _ in range(200):
        body: dict[str, Any] = (await client.get(url, headers=headers)).json()
        if body["status"] in ("completed", "failed"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the experiment did not finish")


def samples(text: str | bytes | None = None) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition (default: the current one), keyed by name and labels."""
    if text is None:
        text = render_latest()
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)
