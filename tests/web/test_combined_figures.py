"""Combined figures on every surface (API, page, CLI): real and synthetic providers
combined apart and labelled, the equal-weight average, partial combinations naming who
is missing, and the low-temperature warning."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from rich.console import Console
from sqlalchemy import update

from echo_ai.cli.render import report_renderable
from echo_ai.config import Settings
from echo_ai.db import transaction
from echo_ai.experiments import service as experiment_service
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.kit import app_runtime
from tests.web.pages import page, text_of
from tests.web.test_experiment_view import OPENAI, _openai_at, finished_experiment
from tests.web.workspace_pages import signed_in


async def _cli_text(app: FastAPI, experiment_id: str) -> str:
    async with transaction(app_runtime(app).session_factory) as session:
        report = await experiment_service.load_report(session, uuid.UUID(experiment_id))
    console = Console(record=True, width=200)
    console.print(report_renderable(report))
    # Titles wrap to the table's width: compare the words, not the lines.
    return " ".join(console.export_text().split())


async def test_demo_and_real_providers_are_combined_apart_everywhere(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    detail = await finished_experiment(
        client, headers, ["demo", OPENAI], iterations=10, temperature=0.3
    )

    # API: two labelled combinations; ``combined`` is the real one alone.
    labels = [(c["label"], c["synthetic"], c["providers"]) for c in detail["combinations"]]
    assert labels == [
        ("Real providers", False, [OPENAI]),
        ("Synthetic (demo)", True, ["demo:demo-synthetic-1"]),
    ]
    assert detail["combined_providers"] == [OPENAI]
    assert detail["combined"]["iterations"] == 10
    assert not any(c["partial"] for c in detail["combinations"])
    # Both sample at the 0.3 asked (each batch recorded it): both are named.
    low = f"demo:demo-synthetic-1 (temperature 0.3), {OPENAI} (temperature 0.3) sample below 0.7"
    assert len(detail["warnings"]) == 1 and low in detail["warnings"][0]
    assert "too narrow" in detail["warnings"][0]

    # Page: both columns labelled, the rule said, the warning shown.
    text = text_of(await page(client, f"/experiments/{detail['id']}"))
    assert "Real providers" in text and "Synthetic (demo)" in text
    assert "never pooled with real ones" in text
    assert low in text
    assert "a provider with more complete answers weighs more" in text

    # CLI: the same labels, what each pools, and the warning.
    cli = await _cli_text(app, detail["id"])
    assert f"Real providers combined ({OPENAI})" in cli
    assert "Synthetic (demo) combined (demo:demo-synthetic-1)" in cli
    assert "more complete answers, more weight" in cli
    assert low in cli


async def test_a_combination_with_a_provider_still_running_is_partial_and_names_it(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo", OPENAI], iterations=5)
    assert detail["warnings"] == []  # temperature 1.0
    experiment_id = uuid.UUID(detail["id"])
    async with transaction(app_runtime(app).session_factory) as session:
        # The real provider's batch goes back to running (as after a resume).
        await session.execute(
            update(BatchRun)
            .where(BatchRun.experiment_id == experiment_id, BatchRun.provider == "openai")
            .values(status=BatchStatus.RUNNING)
        )
        await run_service.store_round_metrics(session, experiment_id, 1)

    response = await client.get(f"/v1/experiments/{experiment_id}", headers=headers)
    real, synthetic = response.json()["combinations"]
    assert (real["partial"], real["missing"], real["pooled"]) == (True, [OPENAI], None)
    assert response.json()["combined"] is None  # the demo never stands in for real ones
    assert (synthetic["partial"], synthetic["missing"]) == (False, [])

    text = text_of(await page(client, f"/experiments/{experiment_id}"))
    assert "“Real providers” is partial" in text
    assert f"still running: {OPENAI}" in text
    cli = await _cli_text(app, detail["id"])
    assert f"partial, still running: {OPENAI}" in cli


async def test_two_real_providers_show_the_average_over_providers(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, [OPENAI, "openai:gpt-4o"], iterations=8)
    (only,) = detail["combinations"]
    assert only["label"] == "All providers" and not only["synthetic"]
    average = only["equal_weight"]
    values = [b["metrics"]["visibility"]["value"] for b in detail["providers"]]
    assert average["visibility"]["value"] == sum(values) / 2
    assert average["visibility"]["providers"] == 2
    text = text_of(await page(client, f"/experiments/{detail['id']}"))
    assert "Average over these 2 providers, each counting once" in text


async def test_the_warning_names_only_providers_that_sampled_below_0_7(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    detail = await finished_experiment(
        client, headers, ["demo", OPENAI], iterations=5, temperature=0.3
    )
    # The OpenAI batch records that it sampled at 1.0 (as a model that takes no
    # temperature does): the recorded value wins over the 0.3 asked.
    async with transaction(app_runtime(app).session_factory) as session:
        await session.execute(
            update(BatchRun)
            .where(BatchRun.experiment_id == uuid.UUID(detail["id"]), BatchRun.provider == "openai")
            .values(parameters={"temperature": None, "temperature_used": 1.0})
        )
    response = await client.get(f"/v1/experiments/{detail['id']}", headers=headers)
    (warning,) = response.json()["warnings"]
    assert warning.startswith("demo:demo-synthetic-1 (temperature 0.3) samples below 0.7")
    assert OPENAI not in warning

    text = text_of(await page(client, f"/experiments/{detail['id']}"))
    assert "demo:demo-synthetic-1 (temperature 0.3) samples below 0.7" in text
    assert f"{OPENAI} (temperature" not in text
    cli = await _cli_text(app, detail["id"])
    assert "demo:demo-synthetic-1 (temperature 0.3) samples below 0.7" in cli
    assert f"{OPENAI} (temperature" not in cli
