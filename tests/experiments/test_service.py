"""Experiment service rules on a real database."""

from __future__ import annotations

import io
import uuid

import pytest
from pydantic import ValidationError

from echo_ai.db import transaction
from echo_ai.errors import AppError, NotFound
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import export
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.runs.models import Experiment
from tests.factories import brand_set, experiment_input


async def _run(runtime: Runtime, **overrides: object) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session, experiment_input(**overrides), chunk_size=25
        )
    await runtime.executor.run_experiment(created.id)
    return created.id


def test_input_is_validated_as_a_whole() -> None:
    with pytest.raises(ValidationError, match="a provider is listed twice"):
        experiment_input(providers=["demo", "demo:demo-synthetic-1"])
    with pytest.raises(ValidationError, match="untracked brands"):
        experiment_input(demo_probabilities={"Nobody": 0.5})
    with pytest.raises(ValidationError, match="prompt must not be blank"):
        experiment_input(prompt="   ")
    assert experiment_input(providers=["openai"]).providers == ["openai:gpt-4o-mini"]


@pytest.mark.usefixtures("backend")
async def test_ids_resolve_from_a_unique_prefix(runtime: Runtime) -> None:
    experiment_id = await _run(runtime, iterations=3)
    async with transaction(runtime.session_factory) as session:
        assert await experiment_service.resolve_id(session, str(experiment_id)[:8]) == experiment_id
        assert (
            await experiment_service.resolve_id(session, str(experiment_id).upper())
            == experiment_id
        )
        with pytest.raises(NotFound):
            await experiment_service.resolve_id(session, "zzzzzzzz")
        with pytest.raises(NotFound):
            await experiment_service.get(session, uuid.uuid4())


async def test_ambiguous_prefix_is_refused(runtime: Runtime) -> None:
    data = experiment_input(iterations=1)
    async with transaction(runtime.session_factory) as session:
        for suffix in ("1", "2"):
            session.add(
                Experiment(
                    id=uuid.UUID(f"abcd{suffix}000-0000-4000-8000-000000000000"),
                    name=data.display_name,
                    prompt=data.prompt,
                    brands=data.brands.model_dump(mode="json"),
                    providers=data.providers,
                    iterations=1,
                )
            )
    async with transaction(runtime.session_factory) as session:
        with pytest.raises(AppError, match="ambiguous"):
            await experiment_service.resolve_id(session, "abcd")
        found = await experiment_service.resolve_id(session, "abcd2")
    assert found == uuid.UUID("abcd2000-0000-4000-8000-000000000000")


@pytest.mark.usefixtures("backend")
async def test_report_pools_providers_at_the_iteration_level(runtime: Runtime) -> None:
    experiment_id = await _run(runtime, iterations=30)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        report = await experiment_service.report(session, experiment)
    assert report.synthetic is True
    ((_batch, metrics),) = report.batches
    assert metrics is not None and report.combined is not None
    assert report.combined.visibility.numerator == metrics.visibility.numerator
    assert report.combined.visibility.denominator == 30


async def test_rescore_is_refused_while_running(runtime: Runtime) -> None:
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(session, experiment_input(), chunk_size=10)
        experiment = await experiment_service.get(session, created.id)
        with pytest.raises(AppError, match="still running"):
            await experiment_service.rescore(
                session, experiment, actor=Actor.cli(), brands=brand_set()
            )


@pytest.mark.usefixtures("backend")
async def test_rescore_uses_new_aliases_without_new_calls(runtime: Runtime) -> None:
    # Tracking "Zoho CRM" only by its full name misses answers that say "Zoho".
    narrow = brand_set(
        competitors=[{"name": "Salesforce"}, {"name": "Pipedrive"}, {"name": "Zoho CRM"}]
    )
    experiment_id = await _run(
        runtime,
        iterations=60,
        brands=narrow.model_dump(),
        demo_probabilities={"Zoho CRM": 0.9},
    )
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        before = (await experiment_service.report(session, experiment)).batches[0][1]
        answers_before = await experiment_service.answers(session, experiment)
        await experiment_service.rescore(session, experiment, actor=Actor.cli(), brands=brand_set())
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        after = (await experiment_service.report(session, experiment)).batches[0][1]
        assert await experiment_service.answers(session, experiment) == answers_before
    assert before is not None and after is not None
    assert experiment.brands_revision == 2
    assert after.mention_rates["Zoho CRM"].numerator >= before.mention_rates["Zoho CRM"].numerator
    assert after.visibility == before.visibility
    assert experiment.batch_runs[0].metrics_history[0]["brands_revision"] == 1


async def test_csv_export_neutralises_spreadsheet_formulas(runtime: Runtime) -> None:
    experiment_id = await _run(runtime, iterations=2, prompt="=HYPERLINK('x') best CRM?")
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        experiment.name = "=cmd|' /C calc'!A0"
        source = export.ExportSource.of(experiment)
    out = io.StringIO()
    rows = await export.write(runtime.session_factory, source, out)
    assert rows == 2
    assert "\n=" not in out.getvalue() and ",=" not in out.getvalue()
