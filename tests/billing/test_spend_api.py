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
from echo_ai.config import Settings
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
