from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from echo_ai.analysis.brands import (
    MAX_ALIASES,
    MAX_COMPETITORS,
    BrandDefinition,
    BrandSet,
    BrandTerm,
)


def _refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BrandSet.model_validate(data)


def test_a_full_definition_is_normalised() -> None:
    brand = BrandDefinition.model_validate(
        {
            "name": "  Zoho   CRM ",
            "aliases": ["Zoho", {"text": "ZC", "case_sensitive": True}, "zoho"],
            "domains": ["https://www.Zoho.com/crm", "zoho.eu"],
        }
    )
    assert brand.name == "Zoho CRM"
    assert brand.domains == ["zoho.com", "zoho.eu"]
    assert [term.text for term in brand.terms] == ["Zoho CRM", "Zoho", "ZC"]


def test_competitor_and_alias_counts_are_bounded() -> None:
    competitors = [{"name": f"Brand {i}"} for i in range(MAX_COMPETITORS + 1)]
    _refused({"target": {"name": "HubSpot"}, "competitors": competitors}, "at most 50")
    aliases = [f"alias {i}" for i in range(MAX_ALIASES + 1)]
    _refused({"target": {"name": "HubSpot", "aliases": aliases}}, "at most 20")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"name": ""}, "at least 1 character"),
        ({"name": "   "}, "must not be blank"),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "HubSpot", "domains": ["not a domain"]}, "not a valid domain"),
        ({"name": "HubSpot", "aliases": ["H"]}, "too short"),
        ({"name": "HP"}, "mark it case_sensitive"),
        ({"name": "HubSpot", "unknown": 1}, "Extra inputs"),
    ],
)
def test_invalid_definitions_are_refused_with_a_clear_message(
    target: dict[str, Any], message: str
) -> None:
    _refused({"target": target}, message)


def test_short_terms_are_allowed_when_case_sensitive() -> None:
    term = BrandTerm.model_validate({"text": "HP", "case_sensitive": True})
    assert term.text == "HP"


def test_brand_names_must_be_unique_ignoring_case() -> None:
    _refused({"target": {"name": "HubSpot"}, "competitors": [{"name": "hubspot"}]}, "listed twice")
