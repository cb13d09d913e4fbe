"""Provider calls made outside experiments' answers (candidate prompts): admitted against
the workspace's budget, sent with its stored key when it has one, and their priced cost
counted in the month's spend as a line of their own (billing/auxiliary.py)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import httpx
import pytest

from echo_ai.billing.costs import NO_EXPERIMENT_LABEL
from echo_ai.config import Settings
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.kit import register_and_login
from tests.providers.bodies import body

pytestmark = pytest.mark.usefixtures("backend")

PROFILE: dict[str, Any] = {
    "brand": {"name": "HubSpot"},
    "competitors": [{"name": "Salesforce"}],
    "target_keywords": ["best crm for startups"],
}
WORKSPACE_KEY = "sk-workspace-0123456789abcdef"


def _openai_at(settings: Settings, fake_llm: FakeLLMServer, *, server_key: str | None) -> None:
    settings.vendor_environment.clear()
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    if server_key is not None:
        settings.vendor_environment["OPENAI_API_KEY"] = server_key
    answer = copy.deepcopy(body("openai", "chat_completion_stop_runner"))
    answer["choices"][0]["message"]["content"] = (
        "What is the best CRM for a startup?\nIs HubSpot better than Salesforce?\n"
    )
    fake_llm.config.bodies = [answer]


async def _ask(client: httpx.AsyncClient, headers: dict[str, str], provider: str) -> httpx.Response:
    created = await client.post("/v1/brands", headers=headers, json=PROFILE)
    assert created.status_code == 201, created.text
    return await client.post(
        "/v1/trackers/candidates",
        headers=headers,
        json={"brand_profile_id": created.json()["id"], "provider": provider, "count": 5},
    )


async def _costs(
    client: httpx.AsyncClient, headers: dict[str, str], group_by: str
) -> dict[str, Any]:
    report = await client.get(f"/v1/costs?group_by={group_by}", headers=headers)
    assert report.status_code == 200, report.text
    found: dict[str, Any] = report.json()
    return found


async def test_a_candidates_call_counts_in_the_month_spend_as_its_own_line(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm, server_key="sk-server")
    ada = await register_and_login(client, "ada@example.com")
    answer = await _ask(client, ada, "openai:gpt-4o-mini")
    assert answer.status_code == 200, answer.text
    cost = Decimal(answer.json()["cost_usd"])
    assert cost > 0
    assert fake_llm.credentials == ["sk-server"]  # no workspace key: the server's

    by_purpose = await _costs(client, ada, "purpose")
    [line] = by_purpose["lines"]
    assert (line["key"], line["label"]) == ("candidate_prompts", "Candidate prompts")
    assert line["iterations"] == 0 and Decimal(line["cost_usd"]) == cost
    by_experiment = await _costs(client, ada, "experiment")
    assert [(x["label"], x["deleted"]) for x in by_experiment["lines"]] == [
        (NO_EXPERIMENT_LABEL, False)
    ]
    by_provider = await _costs(client, ada, "provider")
    assert [x["key"] for x in by_provider["lines"]] == ["openai:gpt-4o-mini"]
    budget = (await client.get("/v1/budget", headers=ada)).json()
    assert Decimal(budget["spent_usd"]) == cost and Decimal(budget["reserved_usd"]) == 0
    usage = (await client.get("/v1/usage", headers=ada)).json()
    quotas = {quota["name"]: quota for quota in usage["quotas"]}
    assert quotas["iterations_per_month"]["used"] == 0  # no answers: no plan quota used


async def test_the_workspaces_stored_key_is_used_when_it_has_one(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm, server_key=None)
    ada = await register_and_login(client, "ada@example.com")
    stored = await client.put(
        "/v1/provider-keys/openai", headers=ada, json={"api_key": WORKSPACE_KEY}
    )
    assert stored.status_code == 200, stored.text
    answer = await _ask(client, ada, "openai:gpt-4o-mini")
    assert answer.status_code == 200, answer.text
    assert fake_llm.credentials == [WORKSPACE_KEY]


async def test_a_call_the_budget_left_cannot_pay_for_is_refused_before_it_is_sent(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm, server_key="sk-server")
    ada = await register_and_login(client, "ada@example.com")
    assert (await client.put("/v1/budget", headers=ada, json={"monthly_usd": "0.10"})).is_success
    # gpt-5-pro: 2,000 output tokens at $120 a million is assumed, $0.24 > $0.10.
    refused = await _ask(client, ada, "openai:gpt-5-pro")
    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "budget_exhausted"
    assert error["details"]["limit"] == "monthly_budget_usd"
    assert Decimal(error["details"]["requested"]) > Decimal("0.10")
    assert fake_llm.request_count == 0
    unpriced = await _ask(client, ada, "openai:gpt-unpriced-7")
    assert unpriced.status_code == 402 and unpriced.json()["error"]["code"] == "price_unknown"
    assert fake_llm.request_count == 0
    # Within the budget: sent, and counted against it.
    answer = await _ask(client, ada, "openai:gpt-4o-mini")
    assert answer.status_code == 200, answer.text
    budget = (await client.get("/v1/budget", headers=ada)).json()
    assert Decimal(budget["spent_usd"]) == Decimal(answer.json()["cost_usd"])
    assert Decimal(budget["reserved_usd"]) == 0


@pytest.mark.parametrize("failure", ["quota", "500"])
async def test_a_failed_call_costs_nothing_and_releases_its_reservation(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer, failure: str
) -> None:
    _openai_at(settings, fake_llm, server_key="sk-server")
    fake_llm.config.bodies = []
    fake_llm.config.script = [failure] * 10
    ada = await register_and_login(client, "ada@example.com")
    assert (await client.put("/v1/budget", headers=ada, json={"monthly_usd": "5"})).is_success
    failed = await _ask(client, ada, "openai:gpt-4o-mini")
    assert failed.status_code == 502 and "could not write candidates" in failed.text
    assert fake_llm.request_count >= 1
    budget = (await client.get("/v1/budget", headers=ada)).json()
    assert Decimal(budget["spent_usd"]) == 0 and Decimal(budget["reserved_usd"]) == 0
    assert (await _costs(client, ada, "purpose"))["lines"] == []
