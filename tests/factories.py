"""Small typed factories for test data."""

from __future__ import annotations

from typing import Any

from echo_ai.analysis.brands import BrandSet
from echo_ai.experiments.schemas import ExperimentCreate


def brand_set(**overrides: Any) -> BrandSet:
    data: dict[str, Any] = {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [
            {"name": "Salesforce", "domains": ["salesforce.com"]},
            {"name": "Pipedrive"},
            {"name": "Zoho CRM", "aliases": ["Zoho"]},
        ],
    }
    data.update(overrides)
    return BrandSet.model_validate(data)


def experiment_input(**overrides: Any) -> ExperimentCreate:
    data: dict[str, Any] = {
        "prompt": "What is the best CRM for a 10-person startup?",
        "brands": brand_set().model_dump(),
        "providers": ["demo"],
        "iterations": 40,
    }
    data.update(overrides)
    return ExperimentCreate.model_validate(data)
