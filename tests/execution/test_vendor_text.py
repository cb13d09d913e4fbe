"""Whatever text a vendor sends back is stored, cleaned, never lost (issue 9, finding 2).

A NUL byte (and a lone surrogate, ``"\\ud800"`` in the vendor's JSON) in an answer, a
citation, a search query, the model version or an error message cannot go into
PostgreSQL's text and JSON columns as it is. The real adapters call the fake LLM server,
which appends both to every text it sends; the rows must be stored on both backends,
with U+FFFD in place of each (one character for one, so offsets stay right), and read
back through the API's output model.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from echo_ai.config import RunnerSettings, Settings
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime, open_runtime
from echo_ai.experiments.schemas import IterationOut
from echo_ai.runs.models import BatchStatus, Iteration
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.text import storable
from tests.factories import stored_batches, stored_experiment

pytestmark = pytest.mark.usefixtures("backend")

GARBLE = "\x00\ud800"
CLEANED = "\ufffd\ufffd"

VENDORS = {
    "openai": ("OPENAI", "/v1"),
    "anthropic": ("ANTHROPIC", ""),
    "gemini": ("GEMINI", ""),
    "perplexity": ("PERPLEXITY", ""),
}
REPORT_QUERIES = {"openai", "anthropic", "gemini"}
"""Vendors whose answers name the web searches they ran (Perplexity's only count them)."""


@pytest.fixture
async def vendor_runtime(settings: Settings, fake_llm: FakeLLMServer) -> AsyncIterator[Runtime]:
    """The runtime with every vendor pointed at the fake server, one attempt per call (a
    failure is stored at once)."""
    environment: dict[str, str] = {}
    for prefix, path in VENDORS.values():
        environment[f"{prefix}_API_KEY"] = "test-key"
        environment[f"{prefix}_BASE_URL"] = fake_llm.base_url + path
    configured = settings.model_copy(
        update={"vendor_environment": environment, "runner": RunnerSettings(max_attempts=1)}
    )
    async with open_runtime(configured) as runtime:
        yield runtime


async def _iterations(runtime: Runtime, batch_id: uuid.UUID) -> list[Iteration]:
    async with transaction(runtime.session_factory) as session:
        return list(
            await session.scalars(
                select(Iteration)
                .where(Iteration.batch_run_id == batch_id)
                .order_by(Iteration.index)
            )
        )


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_vendor_text_with_nul_is_stored_cleaned(
    vendor: str, vendor_runtime: Runtime, fake_llm: FakeLLMServer
) -> None:
    fake_llm.config.brands = [("HubSpot", 1.0), ("Salesforce", 0.5)]
    fake_llm.config.garble = GARBLE
    fake_llm.config.script = ["ok", "500"]  # one answer, one (stored) failure
    experiment_id = await stored_experiment(
        vendor_runtime.session_factory, iterations=2, providers=[vendor], grounding=True
    )
    await vendor_runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(vendor_runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert (batch.succeeded, batch.failed) == (1, 1)
    answered, failed = sorted(
        await _iterations(vendor_runtime, batch.id), key=lambda row: not row.success
    )

    assert answered.answer is not None and answered.answer.endswith(CLEANED)
    assert "HubSpot" in answered.answer  # the answer itself is kept whole
    assert answered.model_version is not None and answered.model_version.endswith(CLEANED)
    assert answered.searched
    if vendor in REPORT_QUERIES:
        assert answered.search_queries
        assert all(query.endswith(CLEANED) for query in answered.search_queries)
    pages = [*answered.citations, *answered.sources]
    assert pages and all(CLEANED in page["url"] for page in pages)
    # The vendor's message is kept (Perplexity's SDK quotes it as a repr: escaped already).
    assert failed.error_message is not None and "The server had an error" in failed.error_message
    assert storable(failed.error_message) == failed.error_message

    shown = IterationOut.of(answered)
    assert shown.brands_in_order[0] == "HubSpot"
    for mention in shown.mentions:  # offsets still point at the brand in the stored text
        assert answered.answer[mention.start : mention.end].casefold() == mention.term.casefold()
    document = shown.model_dump_json()
    assert "\\u0000" not in document and "\\ud800" not in document
