"""Per-plan limits on experiments, as an outside client meets them (real HTTP, both backends).

The probe of issue 9 queued 10 demo providers x 10,000 iterations on the free plan and the
embedded server stalled; such a run is refused now, before anything is stored, and so is a
run that would take a workspace's iterations in flight past its plan's limit.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from echo_ai.billing.plans import PLANS, PlanName, local_plan, plan_in_force
from echo_ai.config import PlanLimits, Settings
from echo_ai.db import create_engine, create_session_factory, transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.runs.models import BatchRun, Experiment
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces import quotas
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID
from tests.experiments.sync_http import experiment, signed_up

pytestmark = pytest.mark.usefixtures("backend")


def _count(settings: Settings, model: type[Experiment] | type[BatchRun]) -> int:
    """Rows of ``model`` in the app's database, read with an engine of this thread's own."""

    async def count() -> int:
        engine = create_engine(settings)
        try:
            async with transaction(create_session_factory(engine)) as session:
                return int(await session.scalar(select(func.count()).select_from(model)) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def _hanging_openai(settings: Settings, fake_llm: FakeLLMServer) -> str:
    """An OpenAI provider whose calls all hang at the fake vendor: its batches stay in
    flight (nothing stored) for as long as the test needs."""
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    fake_llm.config.hang_rate = 1.0
    fake_llm.config.hang_seconds = 120
    return "openai:gpt-4o-mini"


def test_the_probes_experiment_is_refused_on_free_and_nothing_is_stored(
    http: httpx.Client, settings: Settings
) -> None:
    headers = signed_up(http)
    providers = [f"demo:model-{n}" for n in range(10)]

    refused = http.post("/v1/experiments", json=experiment(providers, 10_000), headers=headers)

    assert refused.status_code == 402, refused.text
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"] == {
        "limit": "max_iterations_per_experiment",
        "plan": "free",
        "limit_value": PLANS[PlanName.FREE].max_iterations_per_experiment,
        "usage": 100_000,
        "requested": 100_000,
    }
    assert "100,000" in error["message"] and "2,000" in error["message"]
    assert http.get("/v1/experiments", headers=headers).json()["items"] == []
    assert _count(settings, Experiment) == 0
    assert _count(settings, BatchRun) == 0


def test_a_run_past_the_iterations_in_flight_waits_for_running_ones(
    http: httpx.Client, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    settings.billing.free = PlanLimits(max_iterations_in_flight=100)
    hanging = _hanging_openai(settings, fake_llm)
    headers = signed_up(http)
    first = http.post("/v1/experiments", json=experiment([hanging], 60), headers=headers)
    assert first.status_code == 202, first.text

    second = http.post("/v1/experiments", json=experiment(["demo"], 50), headers=headers)

    assert second.status_code == 402, second.text
    assert second.json()["error"]["details"] == {
        "limit": "max_iterations_in_flight",
        "plan": "free",
        "limit_value": 100,
        "usage": 60,
        "requested": 50,
    }
    assert _count(settings, Experiment) == 1
    # Once the first is cancelled, nothing of the workspace is in flight any more.
    cancelled = http.post(f"/v1/experiments/{first.json()['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    third = http.post("/v1/experiments", json=experiment(["demo"], 50), headers=headers)
    assert third.status_code == 202, third.text


def test_two_requests_at_once_cannot_both_slip_under_the_limit(
    http: httpx.Client, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    settings.billing.free = PlanLimits(max_iterations_in_flight=100)
    hanging = _hanging_openai(settings, fake_llm)
    headers = signed_up(http)
    body = experiment([hanging], 60)
    start = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def post() -> None:
        start.wait()
        answers.append(http.post("/v1/experiments", json=body, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answer.status_code for answer in answers) == [202, 402]
    assert _count(settings, Experiment) == 1


def test_a_rerun_is_held_to_the_same_limits(
    http: httpx.Client, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    settings.billing.free = PlanLimits(max_iterations_in_flight=100)
    hanging = _hanging_openai(settings, fake_llm)
    headers = signed_up(http)
    first = http.post("/v1/experiments", json=experiment([hanging], 60), headers=headers)
    assert first.status_code == 202, first.text

    rerun = http.post(f"/v1/experiments/{first.json()['id']}/rerun", headers=headers)

    assert rerun.status_code == 402, rerun.text
    assert rerun.json()["error"]["details"]["limit"] == "max_iterations_in_flight"
    assert _count(settings, Experiment) == 1


def test_plan_figures_can_be_changed_by_settings() -> None:
    settings = Settings()
    assert plan_in_force(PlanName.TEAM, settings).max_iterations_per_experiment == (
        PLANS[PlanName.TEAM].max_iterations_per_experiment
    )
    settings.billing.team = PlanLimits(max_iterations_per_experiment=123)
    limits = plan_in_force(PlanName.TEAM, settings)
    assert limits.max_iterations_per_experiment == 123
    assert limits.max_iterations_in_flight == PLANS[PlanName.TEAM].max_iterations_in_flight
    # Every plan refuses the probe's 100,000 iterations but business and self-hosted.
    assert [
        (PLANS[plan].max_iterations_per_experiment or 10**9) >= 100_000 for plan in PlanName
    ] == [False, False, True, True]


async def test_the_command_lines_workspace_is_not_limited_unless_configured(
    runtime: Runtime,
) -> None:
    settings = runtime.settings
    assert local_plan(settings).unlimited
    async with transaction(runtime.session_factory) as session:
        await quotas.admit_run(
            session, LOCAL_WORKSPACE_ID, iterations=100_000, settings=settings, now=utcnow()
        )
    settings.billing.local = PlanLimits(max_iterations_per_experiment=1_000)
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(quotas.QuotaExceeded) as refused:
            await quotas.admit_run(
                session, LOCAL_WORKSPACE_ID, iterations=100_000, settings=settings, now=utcnow()
            )
    details: dict[str, Any] = refused.value.details
    assert details["plan"] == "local" and details["limit_value"] == 1_000
