"""Scrubbing of e-mail addresses and phone numbers (a workspace's ``scrub_personal_data``):
from the prompt at creation, and from answers, reasoning and error texts before they are
stored, on both backends, through a real vendor adapter talking to the fake LLM server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from echo_ai.config import RunnerSettings, Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import IterationOut
from echo_ai.runs.models import BatchRun, Experiment, Iteration
from echo_ai.security.scrub import scrub, scrub_url
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces.models import Workspace
from tests.factories import experiment_input

PERSONAL = " Write to ann.lee@example.com or call +1 650-253-0000."


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Mail ann.lee+crm@mail.example.co.uk now", "Mail [email] now"),
        ("ann.lee\uff20example.com or ann\ufe6bexample.org", "[email] or [email]"),  # ＠, ﹫
        ("Call (650) 253-0000 or +44 20 7946 0958.", "Call [phone] or [phone]."),
        ("1-800-555-0199", "[phone]"),
        # left alone: years, prices, counts, domains, handles, a fictional 555 number
        ("In 2026 HubSpot cost $1,200 for 10 seats", "In 2026 HubSpot cost $1,200 for 10 seats"),
        ("see hubspot.com or @hubspot", "see hubspot.com or @hubspot"),
        ("", ""),
    ],
)
def test_scrub_replaces_addresses_and_valid_phone_numbers(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


@pytest.fixture
async def vendor_runtime(
    backend: str, settings: Settings, fake_llm: FakeLLMServer
) -> AsyncIterator[Runtime]:
    configured = settings.model_copy(
        update={
            "vendor_environment": {
                "OPENAI_API_KEY": "test-key",
                "OPENAI_BASE_URL": fake_llm.base_url + "/v1",
            },
            "runner": RunnerSettings(max_attempts=1),
        }
    )
    async with open_runtime(configured) as runtime:
        yield runtime


async def _workspace(runtime: Runtime, *, scrub_personal_data: bool) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name="Acme", scrub_personal_data=scrub_personal_data)
        session.add(workspace)
        await session.flush()
        return workspace.id


async def _run(
    runtime: Runtime, workspace_id: uuid.UUID, *, grounding: bool = False
) -> tuple[Experiment, list[Iteration]]:
    """Three answers from OpenAI (fake); with ``grounding``, searching is required."""
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.create(
            session,
            experiment_input(
                prompt="Best CRM? I am bob@example.org, +1 (650) 253-0000.",
                providers=["openai"],
                iterations=3,
                grounding=grounding,
                require_grounding=grounding,
            ),
            chunk_size=10,
            workspace_id=workspace_id,
        )
        experiment_id = experiment.id
    await runtime.executor.run_experiment(experiment_id)
    async with runtime.session_factory() as session:
        stored = await session.get(Experiment, experiment_id)
        assert stored is not None
        rows = list(
            await session.scalars(
                select(Iteration)
                .join(BatchRun, BatchRun.id == Iteration.batch_run_id)
                .where(BatchRun.experiment_id == experiment_id)
                .order_by(Iteration.index)
            )
        )
        return stored, rows


async def test_a_scrubbing_workspace_stores_no_address_or_number(
    vendor_runtime: Runtime, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = [("HubSpot", 1.0), ("Salesforce", 0.5)]
    fake_llm.config.garble = PERSONAL
    fake_llm.config.script = ["ok", "ok", "500"]
    workspace_id = await _workspace(vendor_runtime, scrub_personal_data=True)
    experiment, rows = await _run(vendor_runtime, workspace_id)

    assert experiment.prompt == "Best CRM? I am [email], [phone]."
    assert "@" not in experiment.name and "253" not in experiment.name
    answered = [row for row in rows if row.success]
    failed = [row for row in rows if not row.success]
    assert len(answered) == 2 and len(failed) == 1
    for row in answered:
        assert row.answer is not None
        assert "ann.lee@example.com" not in row.answer and "650-253-0000" not in row.answer
        assert "Write to [email] or call [phone]." in row.answer
        assert "HubSpot" in row.answer  # the rest of the answer is kept
        shown = IterationOut.of(row)
        assert shown.brands_in_order[0] == "HubSpot"
        for mention in shown.mentions:  # extracted from the scrubbed text: offsets hold
            assert row.answer[mention.start : mention.end].casefold() == mention.term.casefold()
        assert "ann.lee@example.com" not in str(row.extraction)
    assert failed[0].error_message is not None
    assert "ann.lee@example.com" not in failed[0].error_message
    assert "[email]" in failed[0].error_message


def test_a_url_keeps_its_site_and_loses_personal_data() -> None:
    assert (
        scrub_url("https://bob:pw@crm.example.com:8443/u/ann@example.com?tel=+16502530000#x")
        == "https://crm.example.com:8443/u/[email]?tel=[phone]#x"
    )
    assert (
        scrub_url("https://hubspot.com/pricing?seats=10") == "https://hubspot.com/pricing?seats=10"
    )
    assert scrub_url("call +1 650-253-0000") == "call [phone]"  # not a URL: scrubbed as text


async def test_cited_pages_and_search_queries_are_scrubbed_keeping_their_sites(
    vendor_runtime: Runtime, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.garble = PERSONAL
    fake_llm.config.script = ["ok", "ok", "no_search"]
    workspace_id = await _workspace(vendor_runtime, scrub_personal_data=True)
    _, rows = await _run(vendor_runtime, workspace_id, grounding=True)
    unsearched = [row for row in rows if not row.success]
    assert len(unsearched) == 1  # answered without searching: refused, its answer kept
    assert unsearched[0].answer is not None and "[email]" in unsearched[0].answer
    assert "ann.lee@example.com" not in unsearched[0].answer
    pages = [page for row in rows for page in (*(row.citations or []), *(row.sources or []))]
    queries = [query for row in rows for query in (row.search_queries or [])]
    assert pages and queries  # the fake vendor searched and cited
    stored = repr((pages, queries))
    assert "ann.lee@example.com" not in stored and "650-253-0000" not in stored
    assert "[email]" in stored
    sites = {urlsplit(page["url"]).hostname for page in pages}
    assert sites and all(site and site.replace(".", "").isalnum() for site in sites), sites


async def test_without_scrubbing_the_text_is_stored_as_written(
    vendor_runtime: Runtime, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.garble = PERSONAL
    fake_llm.config.script = ["ok", "ok", "ok"]
    workspace_id = await _workspace(vendor_runtime, scrub_personal_data=False)
    experiment, rows = await _run(vendor_runtime, workspace_id)
    assert "bob@example.org" in experiment.prompt
    assert all(row.answer and "ann.lee@example.com" in row.answer for row in rows)
