"""Judging a finished experiment's sentiment with a model (structured output, each vendor
against the fake servers): judged brands name their scorer, invalid output and failed
calls keep the lexicon's result and are counted, the calls are budgeted and counted in
the month's spend as a "Sentiment judge" line."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import httpx
import pytest

from echo_ai.analysis.sentiment import METHOD as LEXICON
from echo_ai.config import Settings
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.experiments.test_router import BODY
from tests.kit import register_and_login, wait_finished, wait_judged
from tests.providers.bodies import body

pytestmark = pytest.mark.usefixtures("backend")

ALWAYS = {"HubSpot": 1.0, "Salesforce": 0.9, "Pipedrive": 0.5}
"""Demo mention probabilities: every answer names HubSpot, so every answer is judged."""

VENDORS: dict[str, tuple[str, str, str]] = {
    # vendor: (spec, key variable, base URL suffix)
    "openai": ("openai:gpt-4o-mini", "OPENAI_API_KEY", "/v1"),
    "anthropic": ("anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY", ""),
    "gemini": ("gemini:gemini-2.5-flash", "GEMINI_API_KEY", ""),
    "perplexity": ("perplexity:sonar", "PERPLEXITY_API_KEY", ""),
}


def _vendor_at(settings: Settings, fake_llm: FakeLLMServer, vendor: str) -> str:
    spec, key, suffix = VENDORS[vendor]
    settings.vendor_environment[key] = "sk-test"
    settings.vendor_environment[f"{vendor.upper()}_BASE_URL"] = f"{fake_llm.base_url}{suffix}"
    return spec


async def _finished(client: httpx.AsyncClient, headers: dict[str, str], iterations: int = 6) -> str:
    created = await client.post(
        "/v1/experiments",
        headers=headers,
        json={**BODY, "iterations": iterations, "demo_probabilities": ALWAYS},
    )
    assert created.status_code == 202, created.text
    experiment_id = str(created.json()["id"])
    await wait_finished(client, experiment_id, headers)
    return experiment_id


async def _judge(
    client: httpx.AsyncClient, headers: dict[str, str], experiment_id: str, provider: str
) -> httpx.Response:
    return await client.post(
        f"/v1/experiments/{experiment_id}/sentiment-judge",
        headers=headers,
        json={"provider": provider},
    )


async def _judged(
    client: httpx.AsyncClient, headers: dict[str, str], experiment_id: str, provider: str
) -> dict[str, Any]:
    """Start a judging (202, queued) and wait for its end: the judging as it ended."""
    started = await _judge(client, headers, experiment_id, provider)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    return await wait_judged(client, headers, experiment_id)


async def _scorers(
    client: httpx.AsyncClient, headers: dict[str, str], experiment_id: str
) -> list[str]:
    """The scorer of every brand's sentiment of every answer, in order."""
    page = await client.get(
        f"/v1/experiments/{experiment_id}/iterations?limit=100", headers=headers
    )
    assert page.status_code == 200, page.text
    return [s["method"] for item in page.json()["items"] for s in item["sentiment"]]


async def test_the_demo_judge_runs_offline_labelled_synthetic(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada)
    estimate = await client.get(
        f"/v1/experiments/{experiment_id}/sentiment-judge/estimate?provider=demo", headers=ada
    )
    assert estimate.status_code == 200, estimate.text
    assert estimate.json() == {
        "provider": "demo:demo-synthetic-1",
        "run": 1,
        "answers": 6,
        "limit": 10_000,
        "over_limit": False,
        "cost_usd": "0.00",
        "cost_from": 6,
        "synthetic": True,
    }
    out = await _judged(client, ada, experiment_id, "demo")
    assert out["status"] == "completed" and (out["run"], out["read"]) == (1, 6)
    assert out["synthetic"] is True and out["scorer"] == "judge:demo:demo-synthetic-1"
    assert (out["answers"], out["judged"]) == (6, 6)
    assert out["failed"] == {"invalid_output": 0, "provider_error": 0, "not_sent": 0}
    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=ada)).json()
    assert detail["sentiment_judge"]["judged"] == 6
    scorers = await _scorers(client, ada, experiment_id)
    assert scorers and set(scorers) == {"judge:demo:demo-synthetic-1"}
    [batch] = detail["providers"]
    hubspot = batch["metrics"]["sentiment"]["HubSpot"]
    assert hubspot["scorers"] == {"judge:demo:demo-synthetic-1": 6}
    # A re-score goes back to the lexicon everywhere.
    rescored = await client.post(f"/v1/experiments/{experiment_id}/rescore", headers=ada)
    assert rescored.status_code == 200, rescored.text
    assert rescored.json()["sentiment_judge"] is None
    assert set(await _scorers(client, ada, experiment_id)) == {LEXICON}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_each_vendor_is_asked_with_its_structured_output_and_its_cost_counted(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer, vendor: str
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=3)
    spec = _vendor_at(settings, fake_llm, vendor)
    out = await _judged(client, ada, experiment_id, spec)
    assert (out["answers"], out["judged"], out["synthetic"]) == (3, 3, False)
    assert Decimal(out["cost_usd"]) > 0
    assert len(fake_llm.requests) == 3
    for _, sent in fake_llm.requests:
        schema = _schema_sent(vendor, sent)
        brands = schema["properties"]["brands"]["items"]["properties"]["brand"]["enum"]
        assert "HubSpot" in brands
    assert set(await _scorers(client, ada, experiment_id)) == {f"judge:{spec}"}
    by_purpose = (await client.get("/v1/costs?group_by=purpose", headers=ada)).json()
    lines = {line["key"]: line for line in by_purpose["lines"]}
    assert Decimal(lines["sentiment_judge"]["cost_usd"]) == Decimal(out["cost_usd"])
    assert lines["sentiment_judge"]["label"] == "Sentiment judge"
    assert lines["sentiment_judge"]["iterations"] == 0
    # The demo run's line holds real spend now: partly synthetic, no longer "yes".
    by_experiment = (await client.get("/v1/costs?group_by=experiment", headers=ada)).json()
    (line,) = [line for line in by_experiment["lines"] if line["key"] == experiment_id]
    assert line["synthetic"] == "partly"


def _schema_sent(vendor: str, sent: dict[str, Any]) -> Any:
    """The verdict's schema as the vendor's structured output carries it."""
    if vendor in ("openai", "perplexity"):
        assert sent["response_format"]["type"] == "json_schema"
        return sent["response_format"]["json_schema"]["schema"]
    if vendor == "anthropic":
        assert sent["tool_choice"] == {"type": "tool", "name": "brand_sentiment"}
        [tool] = sent["tools"]
        return tool["input_schema"]
    config = sent["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    return config["responseJsonSchema"]


def _chat_body(content: str) -> dict[str, Any]:
    answer = copy.deepcopy(body("openai", "chat_completion_stop_runner"))
    answer["choices"][0]["message"]["content"] = content
    return answer


async def test_invalid_verdicts_and_failed_calls_keep_the_lexicons_result(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=5)
    spec = _vendor_at(settings, fake_llm, "openai")
    fake_llm.config.bodies = [
        _chat_body("not JSON at all"),
        _chat_body('{"brands": [{"brand": "HubSpot", "label": "great", "score": 0.5}]}'),
        _chat_body('{"brands": [{"brand": "HubSpot", "label": "positive", "score": 3}]}'),
    ]
    out = await _judged(client, ada, experiment_id, spec)
    assert out["judged"] == 2 and out["failed"]["invalid_output"] == 3
    scorers = await _scorers(client, ada, experiment_id)
    assert LEXICON in scorers and f"judge:{spec}" in scorers

    # Judged again: one call out of credit (not retried), one rate-limited then answered.
    fake_llm.config.retry_after_seconds = 0
    fake_llm.config.script = ["quota", "429"]
    again = await _judged(client, ada, experiment_id, spec)
    assert again["judged"] == 4
    assert again["failed"] == {"invalid_output": 0, "provider_error": 1, "not_sent": 0}
    assert fake_llm.request_count == 5 + 6  # 5 calls, then 5 and one retry
    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=ada)).json()
    assert detail["sentiment_judge"]["failed"]["provider_error"] == 1


async def test_judging_the_budget_cannot_pay_for_is_refused_before_any_call(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=4)
    _vendor_at(settings, fake_llm, "openai")
    assert (await client.put("/v1/budget", headers=ada, json={"monthly_usd": "0.10"})).is_success
    estimate = await client.get(
        f"/v1/experiments/{experiment_id}/sentiment-judge/estimate?provider=openai:gpt-5-pro",
        headers=ada,
    )
    assert Decimal(estimate.json()["cost_usd"]) > Decimal("0.10")
    refused = await _judge(client, ada, experiment_id, "openai:gpt-5-pro")
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "budget_exhausted"
    unpriced = await _judge(client, ada, experiment_id, "openai:gpt-unpriced-7")
    assert unpriced.status_code == 402 and unpriced.json()["error"]["code"] == "price_unknown"
    assert fake_llm.request_count == 0
    budget = (await client.get("/v1/budget", headers=ada)).json()
    assert Decimal(budget["spent_usd"]) == 0 and Decimal(budget["reserved_usd"]) == 0


async def test_bad_requests_are_clear_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=2)
    settings.vendor_environment.clear()
    missing = await _judge(client, ada, experiment_id, "anthropic")
    assert missing.status_code == 400 and "ANTHROPIC_API_KEY" in missing.text
    unknown = await _judge(client, ada, experiment_id, "nope:x")
    assert unknown.status_code == 400 and "unknown provider" in unknown.text
    extra = await client.post(
        f"/v1/experiments/{experiment_id}/sentiment-judge",
        headers=ada,
        json={"provider": "demo", "other": 1},
    )
    assert extra.status_code == 422
    bob = await register_and_login(client, "bob@example.com")
    hidden = await _judge(client, bob, experiment_id, "demo")
    assert hidden.status_code == 404
