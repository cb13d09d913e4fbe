"""Helpers for the observability tests: a finished experiment, a scrape."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from echo_ai.observability.server import render_latest
from tests.kit import wait_finished

EXPERIMENT: dict[str, Any] = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]},
    "providers": ["demo"],
    "iterations": 5,
}


async def run_experiment(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    created = await client.post("/v1/experiments", headers=headers, json=EXPERIMENT)
    assert created.status_code == 202, created.text
    return await wait_finished(client, created.json()["id"], headers)


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
