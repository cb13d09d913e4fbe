"""The estimate before a run (in the response of ``POST /v1/experiments`` and as a dry run)
and the resume of a budget-stopped experiment over HTTP, with the fake LLM server speaking
OpenAI's wire format."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from echo_ai.auth.models import User
from echo_ai.config import PlanLimits, Settings
from echo_ai.db import transaction
from echo_ai.experiments import service as experiment_service
from echo_ai.metering.models import WorkspaceBudget
from echo_ai.providers.assumed import ASSUMED_OUTPUT_TOKENS, assumed_cost
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces.models import Membership
from tests.experiments.test_router import BODY
from tests.factories import experiment_input
from tests.kit import app_runtime, register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")

OPENAI = "openai:gpt-4o-mini"


def _openai_at(settings: Settings, fake_llm: FakeLLMServer) -> None:
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"


async def _workspace_of(app: FastAPI, email: str) -> uuid.UUID:
    async with transaction(app_runtime(app).session_factory) as session:
        workspace_id = await session.scalar(
            select(Membership.workspace_id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email)
        )
        assert workspace_id is not None
        return workspace_id


async def _experiments(app: FastAPI) -> int:
    async with transaction(app_runtime(app).session_factory) as session:
        return int(await session.scalar(select(func.count()).select_from(Experiment)) or 0)


async def test_the_dry_run_estimates_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    body: dict[str, Any] = {**BODY, "providers": [OPENAI, "openai:no-such-model"], "iterations": 40}
    response = await client.post("/v1/experiments/estimate", headers=ada, json=body)
    assert response.status_code == 200, response.text
    estimate = response.json()
    per_call = assumed_cost(
        "openai", "gpt-4o-mini", approximate_tokens(BODY["prompt"]), grounding=False
    )
    assert per_call is not None
    assert Decimal(estimate["known_usd"]) == per_call * 40
    assert estimate["unpriced"] == ["openai:no-such-model"]
    assert estimate["calls"] == 80
    first = estimate["providers"][0]
    assert first["tokens_from"] == "assumed" and first["output_tokens"] == ASSUMED_OUTPUT_TOKENS
    assert await _experiments(app) == 0  # a dry run: nothing stored

    bad = await client.post("/v1/experiments/estimate", headers=ada, json={**body, "iterations": 0})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


async def test_a_queued_experiment_shows_its_estimate_from_past_answers(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    ada = await register_and_login(client, "ada@example.com")
    body = {**BODY, "providers": [OPENAI], "iterations": 5}
    created = await client.post("/v1/experiments", headers=ada, json=body)
    assert created.status_code == 202, created.text
    assert created.json()["estimate"]["providers"][0]["tokens_from"] == "assumed"
    done = await wait_finished(client, created.json()["id"], ada)
    assert done["status"] == "completed"
    metrics = done["providers"][0]["metrics"]

    again = await client.post("/v1/experiments/estimate", headers=ada, json=body)
    provider = again.json()["providers"][0]
    assert provider["tokens_from"] == "history (5 answers)"
    assert provider["output_tokens"] == -(-metrics["output_tokens"] // 5)
    assert provider["input_tokens"] == -(-metrics["input_tokens"] // 5)
    # Another workspace's history is not this one's.
    bob = await register_and_login(client, "bob@example.com")
    theirs = await client.post("/v1/experiments/estimate", headers=bob, json=body)
    assert theirs.json()["providers"][0]["tokens_from"] == "assumed"


async def test_resume_over_http_is_refused_by_the_budget_then_runs_the_rest(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    ada = await register_and_login(client, "ada@example.com")
    workspace_id = await _workspace_of(app, "ada@example.com")
    runtime = app_runtime(app)
    per_call = assumed_cost(
        "openai", "gpt-4o-mini", approximate_tokens(BODY["prompt"]), grounding=False
    )
    assert per_call is not None
    async with transaction(runtime.session_factory) as session:
        session.add(WorkspaceBudget(workspace_id=workspace_id, monthly_usd=per_call * 3))
        experiment = await experiment_service.create(
            session,
            experiment_input(prompt=BODY["prompt"], providers=[OPENAI], iterations=30),
            chunk_size=10,
            workspace_id=workspace_id,
        )
    await runtime.executor.run_experiment(experiment.id)
    url = f"/v1/experiments/{experiment.id}"
    stopped = (await client.get(url, headers=ada)).json()
    assert stopped["status"] == "budget_exhausted"
    requests_before = len(fake_llm.requests)

    refused = await client.post(f"{url}/resume", headers=ada)
    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "budget_exhausted"
    assert error["details"]["limit"] == "monthly_budget_usd"
    assert (await client.get(url, headers=ada)).json()["status"] == "budget_exhausted"
    assert len(fake_llm.requests) == requests_before  # nothing sent

    async with transaction(runtime.session_factory) as session:
        budget = await session.get(WorkspaceBudget, workspace_id)
        assert budget is not None
        budget.monthly_usd = Decimal(100)
    resumed = await client.post(f"{url}/resume", headers=ada)
    assert resumed.status_code == 202, resumed.text
    done = await wait_finished(client, str(experiment.id), ada)
    assert done["status"] == "completed"
    async with transaction(runtime.session_factory) as session:
        batch = await session.scalar(
            select(BatchRun).where(BatchRun.experiment_id == experiment.id)
        )
        assert batch is not None and batch.status == BatchStatus.COMPLETED and batch.stored == 30


async def _stop_on_the_budget(
    client: httpx.AsyncClient, app: FastAPI, ada: dict[str, str], workspace_id: uuid.UUID
) -> uuid.UUID:
    """An OpenAI experiment of the workspace stopped by a budget of three calls."""
    runtime = app_runtime(app)
    per_call = assumed_cost(
        "openai", "gpt-4o-mini", approximate_tokens(BODY["prompt"]), grounding=False
    )
    assert per_call is not None
    async with transaction(runtime.session_factory) as session:
        session.add(WorkspaceBudget(workspace_id=workspace_id, monthly_usd=per_call * 3))
        experiment = await experiment_service.create(
            session,
            experiment_input(prompt=BODY["prompt"], providers=[OPENAI], iterations=30),
            chunk_size=10,
            workspace_id=workspace_id,
        )
    await runtime.executor.run_experiment(experiment.id)
    stopped = (await client.get(f"/v1/experiments/{experiment.id}", headers=ada)).json()
    assert stopped["status"] == "budget_exhausted"
    return experiment.id


async def test_resume_is_refused_by_the_plan_as_a_new_run_is(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    ada = await register_and_login(client, "ada@example.com")
    workspace_id = await _workspace_of(app, "ada@example.com")
    runtime = app_runtime(app)
    experiment_id = await _stop_on_the_budget(client, app, ada, workspace_id)
    url = f"/v1/experiments/{experiment_id}"
    async with transaction(runtime.session_factory) as session:
        budget = await session.get(WorkspaceBudget, workspace_id)
        assert budget is not None
        budget.monthly_usd = Decimal(100)  # the budget would allow it now
    sent = len(fake_llm.requests)

    # The workspace's plan no longer includes OpenAI (a downgrade): refused, not reopened.
    runtime.settings.billing.free = PlanLimits(providers=["demo"])
    refused = await client.post(f"{url}/resume", headers=ada)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "plan_forbids_provider"
    # A month with fewer iterations left than the resume would run: refused too.
    runtime.settings.billing.free = PlanLimits(iterations_per_month=5)
    refused = await client.post(f"{url}/resume", headers=ada)
    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["limit"] == "iterations_per_month"
    async with transaction(runtime.session_factory) as session:
        stored = await session.scalar(
            select(BatchRun.stored).where(BatchRun.experiment_id == experiment_id)
        )
    assert stored is not None and 0 < stored < 30
    assert error["details"]["requested"] == 30 - stored  # the missing iterations only
    assert (await client.get(url, headers=ada)).json()["status"] == "budget_exhausted"
    assert len(fake_llm.requests) == sent  # nothing sent

    runtime.settings.billing.free = PlanLimits(iterations_per_month=10_000)
    resumed = await client.post(f"{url}/resume", headers=ada)
    assert resumed.status_code == 202, resumed.text
    assert (await wait_finished(client, str(experiment_id), ada))["status"] == "completed"


async def test_an_unpriced_model_is_refused_while_a_budget_applies(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    ada = await register_and_login(client, "ada@example.com")
    workspace_id = await _workspace_of(app, "ada@example.com")
    body: dict[str, Any] = {**BODY, "providers": ["openai:no-such-model"], "iterations": 3}

    capped = await client.post("/v1/experiments", headers=ada, json={**body, "budget_usd": "5"})
    assert capped.status_code == 402, capped.text
    error = capped.json()["error"]
    assert error["code"] == "price_unknown"
    assert error["details"] == {
        "limit": "experiment_budget_usd",
        "providers": ["openai:no-such-model"],
    }
    assert "cannot be enforced" in error["message"]
    assert "ECHO_AI_PRICES_FILE" in error["message"]

    async with transaction(app_runtime(app).session_factory) as session:
        session.add(WorkspaceBudget(workspace_id=workspace_id, monthly_usd=Decimal(50)))
    refused = await client.post("/v1/experiments", headers=ada, json=body)
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["details"]["limit"] == "monthly_budget_usd"
    assert await _experiments(app) == 0 and fake_llm.requests == []  # nothing stored or sent

    # A priced model under the same budget runs, and its response carries the estimate
    # it was admitted with.
    priced = await client.post("/v1/experiments", headers=ada, json={**body, "providers": [OPENAI]})
    assert priced.status_code == 202, priced.text
    assert priced.json()["estimate"]["unpriced"] == []
    assert Decimal(priced.json()["estimate"]["known_usd"]) > 0
