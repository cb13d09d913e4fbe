"""Candidate prompts for a tracker: written by the demo provider offline (synthetic) or by
a real adapter against the fake OpenAI server (priced, nothing stored or run)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from echo_ai.config import Settings
from echo_ai.experiments.candidates import parse
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.kit import register_and_login
from tests.providers.bodies import body

pytestmark = pytest.mark.usefixtures("backend")

PROFILE: dict[str, Any] = {
    "brand": {"name": "HubSpot"},
    "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
    "target_keywords": ["best crm for startups"],
}


PROFILE_BRANDS = {"target": {"name": "HubSpot"}}


async def _profile(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await client.post("/v1/brands", headers=headers, json=PROFILE)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_the_demo_provider_writes_synthetic_candidates_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    profile_id = await _profile(client, ada)
    answer = await client.post(
        "/v1/trackers/candidates",
        headers=ada,
        json={"brand_profile_id": profile_id, "category": "CRM software", "count": 12},
    )
    assert answer.status_code == 200, answer.text
    body_ = answer.json()
    assert body_["synthetic"] is True and body_["provider"] == "demo:demo-synthetic-1"
    candidates = body_["candidates"]
    assert len(candidates) == 12 and len(set(candidates)) == 12
    assert "best crm for startups?" in candidates
    assert any("CRM software" in c for c in candidates)
    assert any("HubSpot" in c and "Salesforce" in c for c in candidates)
    assert (await client.get("/v1/trackers", headers=ada)).json() == []
    assert (await client.get("/v1/experiments", headers=ada)).json()["items"] == []

    typed = await client.post(
        "/v1/trackers/candidates",
        headers=ada,
        json={"brands": {"target": {"name": "Attio"}, "competitors": [{"name": "Folk"}]}},
    )
    assert typed.status_code == 200, typed.text
    assert any("Attio" in c and "Folk" in c for c in typed.json()["candidates"])
    for both_or_neither in ({}, {"brand_profile_id": profile_id, "brands": PROFILE_BRANDS}):
        refused = await client.post("/v1/trackers/candidates", headers=ada, json=both_or_neither)
        assert (
            refused.status_code == 422 and "give either brands or brand_profile_id" in refused.text
        )


async def test_a_real_provider_is_asked_through_its_adapter_and_priced(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    answer_body = copy.deepcopy(body("openai", "chat_completion_stop_runner"))
    answer_body["choices"][0]["message"]["content"] = (
        "Here are some questions:\n1. What is the best CRM for a startup?\n"
        "2. **Is HubSpot better than Salesforce?**\n- Which CRM is cheapest?\n"
        "3. What is the best CRM for a startup?\n"
    )
    fake_llm.config.bodies = [answer_body]
    ada = await register_and_login(client, "ada@example.com")
    profile_id = await _profile(client, ada)
    answer = await client.post(
        "/v1/trackers/candidates",
        headers=ada,
        json={
            "brand_profile_id": profile_id,
            "provider": "openai:gpt-4o-mini",
            "category": "CRM",
            "count": 5,
        },
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["candidates"] == [
        "What is the best CRM for a startup?",
        "Is HubSpot better than Salesforce?",
        "Which CRM is cheapest?",
    ]
    assert result["synthetic"] is False
    assert (result["input_tokens"], result["output_tokens"]) == (19, 61)
    assert result["cost_usd"] is not None and float(result["cost_usd"]) > 0
    [(path, sent)] = fake_llm.requests
    assert path == "/v1/chat/completions"
    asked = sent["messages"][-1]["content"]
    assert "HubSpot, Salesforce, Pipedrive" in asked and "best crm for startups" in asked


async def test_a_provider_without_its_key_or_failing_is_a_clear_error(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    profile_id = await _profile(client, ada)
    request = {"brand_profile_id": profile_id, "provider": "anthropic:claude-sonnet-4-5"}
    missing = await client.post("/v1/trackers/candidates", headers=ada, json=request)
    assert missing.status_code == 400 and "ANTHROPIC_API_KEY" in missing.text
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    fake_llm.config.quota_exhausted = True
    failed = await client.post(
        "/v1/trackers/candidates",
        headers=ada,
        json={"brand_profile_id": profile_id, "provider": "openai:gpt-4o-mini"},
    )
    assert failed.status_code == 502 and "could not write candidates" in failed.text
    unknown = await client.post(
        "/v1/trackers/candidates",
        headers=ada,
        json={"brand_profile_id": profile_id, "provider": "nope"},
    )
    assert unknown.status_code == 400 and "unknown provider" in unknown.text


def test_answers_are_parsed_into_questions() -> None:
    text = 'Sure:\n\n1) "Best CRM?"\n* `Which CRM for agencies?`\nQ3: Which CRM for agencies?\nok\n'
    assert parse(text, 10) == ["Best CRM?", "Which CRM for agencies?"]
    assert parse(text, 1) == ["Best CRM?"]
