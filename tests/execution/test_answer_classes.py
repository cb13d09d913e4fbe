"""Answers that are not samples (truncated, refused, empty) through the runner and the
writer, on a real database (SQLite and PostgreSQL).

The vendor is a test double at the network edge: a :class:`Provider` that returns the
completions a vendor adapter makes of such answers (the adapters' own parsing of the
vendors' bodies is tested in tests/providers), so these tests hold whatever adapter is used.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.analysis.scoring import success_row
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.execution.writer import BATCH_PARAMETERS, insert_iterations
from echo_ai.experiments import service as experiment_service
from echo_ai.observability.metrics import REGISTRY
from echo_ai.privacy.audit import Actor
from echo_ai.providers.base import (
    AnswerClass,
    AuthenticationFailed,
    Completion,
    CompletionRequest,
    ServerError,
)
from echo_ai.providers.openai import OpenAIProvider
from echo_ai.providers.pricing import total_cost
from echo_ai.providers.retry import RetryPolicy
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchStatus, Iteration
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.factories import brand_set, failed_row, stored_batches, stored_experiment

pytestmark = pytest.mark.usefixtures("backend")

MODEL = "gpt-4o-mini"
"""A chat model: asked with 2,048 output tokens, a truncated answer again with 8,192."""

Outcome = Completion | Exception


def answer(
    answer_class: AnswerClass = AnswerClass.COMPLETE,
    *,
    text: str = "1. HubSpot\n2. Salesforce",
    stop_reason: str | None = "stop",
    input_tokens: int = 100,
    output_tokens: int = 200,
    reasoning: str | None = None,
    reasoning_tokens: int | None = None,
    parameters: dict[str, Any] | None = None,
) -> Completion:
    """A completion as an adapter makes it of a vendor's answer of that class."""
    return Completion(
        text=text,
        model_version="gpt-4o-mini-2024-07-18",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        latency_ms=5.0,
        answer_class=answer_class,
        stop_reason=stop_reason,
        reasoning=reasoning,
        reasoning_tokens=reasoning_tokens,
        parameters=parameters if parameters is not None else {"temperature": 0.7},
    )


TRUNCATED = answer(
    AnswerClass.TRUNCATED,
    text="Here are the best CRMs: 1. Hub",
    stop_reason="length",
    output_tokens=2048,
)
REFUSED = answer(AnswerClass.REFUSED, text="I can't help with that.", stop_reason="refusal")
EMPTY = answer(AnswerClass.EMPTY, text="", stop_reason="stop", output_tokens=0)


class ClassedVendor:
    """OpenAI at the network edge: answers each iteration with its scripted outcomes in
    turn (a complete answer once they run out) and notes every request it was sent."""

    name = "openai"

    def __init__(self) -> None:
        self.script: dict[int, list[Outcome]] = defaultdict(list)
        self.default: Callable[[], Completion] = answer
        self.requests: dict[int, list[CompletionRequest]] = defaultdict(list)

    @staticmethod
    def index_of(request: CompletionRequest) -> int:
        # The runner seeds iteration i of a batch with seed * 1_000_003 + i.
        assert request.seed is not None
        return request.seed % 1_000_003

    async def complete(self, request: CompletionRequest) -> Completion:
        index = self.index_of(request)
        self.requests[index].append(request)
        scripted = self.script[index]
        outcome = scripted.pop(0) if scripted else self.default()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @property
    def calls(self) -> int:
        return sum(len(sent) for sent in self.requests.values())

    async def aclose(self) -> None:
        return None


@pytest.fixture
def vendor(runtime: Runtime) -> ClassedVendor:
    double = ClassedVendor()
    runtime.providers.register(double)
    # One attempt per call: a transient error is stored as a failed iteration at once.
    runtime.runner.retry_policy = RetryPolicy(max_attempts=1, base_delay=0.0, max_delay=0.0)
    return double


async def _experiment(runtime: Runtime, iterations: int, chunk_size: int = 10) -> uuid.UUID:
    return await stored_experiment(
        runtime.session_factory,
        iterations=iterations,
        chunk_size=chunk_size,
        providers=[f"openai:{MODEL}"],
    )


def _iterations_counted(outcome: str) -> float:
    labels = {"provider": "openai", "model": MODEL, "outcome": outcome}
    return REGISTRY.get_sample_value("iterations_total", labels) or 0.0


async def _rows(runtime: Runtime, batch_id: uuid.UUID) -> dict[int, Iteration]:
    async with transaction(runtime.session_factory) as session:
        rows = await session.scalars(select(Iteration).where(Iteration.batch_run_id == batch_id))
        return {row.index: row for row in rows}


async def test_each_class_moves_its_own_counter_and_stays_out_of_the_rates(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    vendor.script[0] = [TRUNCATED, TRUNCATED]  # still cut off with the larger limit
    vendor.script[1] = [TRUNCATED, TRUNCATED]
    vendor.script[2] = [REFUSED]
    vendor.script[3] = [EMPTY]
    vendor.script[4] = [ServerError("upstream exploded", status_code=503)]
    experiment_id = await _experiment(runtime, iterations=12)
    outcomes = ("success", "truncated", "refused", "empty", "server_error")
    before = [_iterations_counted(outcome) for outcome in outcomes]
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    counts = (batch.succeeded, batch.failed, batch.truncated, batch.refused, batch.empty)
    assert counts == (7, 1, 2, 1, 1)
    # The operators' counter tells the same story (only complete answers are "success").
    grew = [_iterations_counted(o) - b for o, b in zip(outcomes, before, strict=True)]
    assert grew == [7, 2, 1, 1, 1]
    assert batch.stored == sum(counts) == 12
    assert batch.metrics is not None
    metrics = batch.metrics
    assert (metrics["succeeded"], metrics["failed"]) == (7, 1)
    assert (metrics["truncated"], metrics["refused"], metrics["empty"]) == (2, 1, 1)
    # Every complete answer names HubSpot (the target): 7 of 7, not 7 of 11.
    assert metrics["visibility"]["denominator"] == 7
    assert metrics["visibility"]["value"] == 1.0
    rows = await _rows(runtime, batch.id)
    assert [rows[i].answer_class for i in range(5)] == [
        "truncated",
        "truncated",
        "refused",
        "empty",
        None,
    ]
    assert [rows[i].success for i in range(5)] == [True, True, True, True, False]
    assert (rows[2].stop_reason, rows[2].answer) == ("refusal", "I can't help with that.")


async def test_a_truncated_answer_is_asked_again_once_with_the_larger_limit(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    vendor.script[0] = [
        TRUNCATED,
        answer(
            output_tokens=3_000,
            reasoning="Weighing CRMs...",
            reasoning_tokens=900,
            parameters={"temperature": 0.7, "max_output_tokens": 8_192},
        ),
    ]
    experiment_id = await _experiment(runtime, iterations=1)
    await runtime.executor.run_experiment(experiment_id)

    assert [request.max_output_tokens for request in vendor.requests[0]] == [2_048, 8_192]
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert (batch.succeeded, batch.truncated, batch.stored) == (1, 0, 1)
    # The batch was asked as its first call was, not with the retry's larger limit.
    assert batch.parameters == {"temperature": 0.7}
    row = (await _rows(runtime, batch.id))[0]
    assert (row.answer_class, row.stop_reason) == ("complete", "stop")
    assert row.attempts == 2
    # Both calls were billed: their tokens and cost are the row's.
    assert (row.input_tokens, row.output_tokens) == (200, 2_048 + 3_000)
    assert row.reasoning == "Weighing CRMs..."
    assert row.cost_usd == token_cost(200, 5_048)
    assert row.cost_usd == Decimal("0.0030588")


async def test_truncated_twice_is_stored_truncated_with_both_calls_billed(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    second = answer(
        AnswerClass.TRUNCATED, text="", stop_reason="length", output_tokens=8_192,
        reasoning_tokens=8_192,
    )  # fmt: skip
    vendor.script[0] = [TRUNCATED, second]
    experiment_id = await _experiment(runtime, iterations=1)
    await runtime.executor.run_experiment(experiment_id)

    assert vendor.calls == 2  # asked again once, not more
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    # No complete answer at all: the batch has no sample, and says why.
    assert (batch.succeeded, batch.truncated, batch.failed) == (0, 1, 0)
    assert (batch.status, batch.error) == (
        BatchStatus.FAILED,
        "Every iteration of this provider failed. No answer was complete: 1 truncated.",
    )
    row = (await _rows(runtime, batch.id))[0]
    assert (row.success, row.answer_class, row.stop_reason) == (True, "truncated", "length")
    assert (row.output_tokens, row.attempts) == (2_048 + 8_192, 2)
    # Reasoning tokens summed where known; the first call did not report them.
    assert row.reasoning_tokens is None
    assert row.cost_usd == token_cost(200, 10_240)


async def test_a_truncated_answer_is_kept_when_asking_again_fails(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    vendor.script[0] = [TRUNCATED, ServerError("upstream exploded", status_code=503)]
    experiment_id = await _experiment(runtime, iterations=2)
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert (batch.succeeded, batch.truncated, batch.failed) == (1, 1, 0)
    row = (await _rows(runtime, batch.id))[0]
    # The first answer was billed: it is stored (truncated), not lost as a failed call
    # that a resume would delete and pay for again.
    assert (row.answer_class, row.output_tokens, row.attempts) == ("truncated", 2_048, 2)
    assert row.cost_usd == token_cost(100, 2_048)


async def test_refused_and_empty_answers_are_not_asked_again(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    vendor.script[0] = [REFUSED]
    vendor.script[1] = [EMPTY]
    experiment_id = await _experiment(runtime, iterations=3)
    await runtime.executor.run_experiment(experiment_id)

    assert {index: len(sent) for index, sent in vendor.requests.items()} == {0: 1, 1: 1, 2: 1}
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert (batch.succeeded, batch.refused, batch.empty) == (1, 1, 1)
    rows = await _rows(runtime, batch.id)
    assert (rows[0].answer_class, rows[0].attempts) == ("refused", 1)
    assert (rows[1].answer_class, rows[1].attempts) == ("empty", 1)


async def test_the_batch_records_the_parameters_of_its_first_answer_once(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    sent_first = {"max_output_tokens": 2_048, "temperature": 0.7}
    vendor.script[0] = [ServerError("upstream exploded", status_code=503)]
    vendor.default = lambda: answer(parameters=sent_first)
    experiment_id = await _experiment(runtime, iterations=20)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.parameters is None  # nothing sent yet

    await runtime.runner.run_chunk(batch.id, 0)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.parameters == sent_first

    # Later answers (here sent otherwise) never overwrite what the batch recorded.
    vendor.default = lambda: answer(parameters={"max_output_tokens": 8_192})
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert batch.parameters == sent_first


async def test_a_batch_whose_calls_all_failed_records_no_parameters(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    vendor.default = lambda: answer(parameters={"temperature": 0.2})
    for index in range(3):
        vendor.script[index] = [ServerError("upstream exploded", status_code=503)]
    experiment_id = await _experiment(runtime, iterations=3)
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.failed == 3
    assert batch.parameters is None


async def test_a_resume_runs_failed_calls_again_but_never_billed_answers(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    vendor.script[0] = [TRUNCATED, TRUNCATED]
    vendor.script[1] = [REFUSED]
    vendor.script[2] = [EMPTY]
    for index in (3, 10, 11, 12, 13, 14):
        vendor.script[index] = [ServerError("upstream exploded", status_code=503)]
    experiment_id = await _experiment(runtime, iterations=20)
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    counts = (batch.succeeded, batch.failed, batch.truncated, batch.refused, batch.empty)
    assert counts == (11, 6, 1, 1, 1)
    answered = {
        index: row.id for index, row in (await _rows(runtime, batch.id)).items() if row.success
    }
    assert len(answered) == 14

    async with transaction(runtime.session_factory) as session:
        reopened = await run_service.reopen_unfinished(
            session, experiment_id, now=utcnow(), lease_ttl=runtime.lease_ttl
        )
    assert reopened == 1
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    # Only the failed calls were taken away: the billed answers of every class stay.
    counts = (batch.succeeded, batch.failed, batch.truncated, batch.refused, batch.empty)
    assert counts == (11, 0, 1, 1, 1)
    assert batch.stored == 14

    calls_before = vendor.calls
    await runtime.executor.run_experiment(experiment_id)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert batch.status == BatchStatus.COMPLETED
    assert vendor.calls - calls_before == 6  # the six failed calls, nothing else
    rows = await _rows(runtime, batch.id)
    assert {index: rows[index].id for index in answered} == answered
    counts = (batch.succeeded, batch.failed, batch.truncated, batch.refused, batch.empty)
    assert counts == (17, 0, 1, 1, 1)
    assert batch.stored == 20
    assert batch.metrics is not None
    assert batch.metrics["visibility"]["denominator"] == 17


async def test_a_rescore_keeps_every_answer_class(runtime: Runtime, vendor: ClassedVendor) -> None:
    vendor.script[0] = [TRUNCATED, TRUNCATED]
    vendor.script[1] = [REFUSED]
    experiment_id = await _experiment(runtime, iterations=4)
    await runtime.executor.run_experiment(experiment_id)

    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        await experiment_service.rescore(session, experiment, actor=Actor.cli())
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    rows = await _rows(runtime, batch.id)
    assert [rows[i].answer_class for i in range(4)] == [
        "truncated",
        "refused",
        "complete",
        "complete",
    ]
    assert (batch.succeeded, batch.truncated, batch.refused) == (2, 1, 1)
    assert batch.metrics is not None
    assert batch.metrics["visibility"]["denominator"] == 2
    assert (batch.metrics["truncated"], batch.metrics["refused"]) == (1, 1)
    assert len(batch.metrics_history) == 1


async def test_a_key_refused_on_the_second_ask_keeps_the_answer_and_stops_the_batch(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    # The key is revoked between the two asks of iteration 0 (the others answer until
    # the batch stops).
    vendor.script[0] = [TRUNCATED, AuthenticationFailed("bad key", status_code=401)]
    experiment_id = await _experiment(runtime, iterations=30)
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert (batch.status, batch.error_code) == (BatchStatus.FAILED, "authentication_failed")
    row = (await _rows(runtime, batch.id))[0]
    assert (row.success, row.answer_class) == (True, "truncated")
    assert batch.truncated == 1


def _row(batch_id: uuid.UUID, index: int, completion: Completion) -> dict[str, Any]:
    """A row as the runner hands it to the writer."""
    return success_row(
        batch_run_id=batch_id,
        index=index,
        vendor="openai",
        model=MODEL,
        completion=completion,
        attempts=1,
        matcher=BrandMatcher(brand_set()),
    ) | {BATCH_PARAMETERS: dict(completion.parameters)}


async def test_the_writer_moves_one_counter_per_kind_and_keeps_the_first_parameters(
    runtime: Runtime,
) -> None:
    experiment_id = await _experiment(runtime, iterations=20)
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    first = answer(parameters={"temperature": 0.7, "max_completion_tokens": 2_048})
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(
            session,
            [
                _row(batch.id, 4, first),
                _row(batch.id, 1, answer(parameters={"temperature": 0.1})),
                _row(batch.id, 2, TRUNCATED),
                _row(batch.id, 3, REFUSED),
                _row(batch.id, 0, EMPTY),
                failed_row(batch.id, 5),
            ],
        )
    async with transaction(runtime.session_factory) as session:
        await insert_iterations(
            session,
            [
                _row(batch.id, 2, answer()),  # a repeat of a stored index: ignored
                _row(batch.id, 6, answer(parameters={"temperature": 1.0})),
            ],
        )
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    counts = (batch.succeeded, batch.failed, batch.truncated, batch.refused, batch.empty)
    assert counts == (3, 1, 1, 1, 1)
    assert batch.stored == sum(counts) == 7
    # The first row handed over, not the lowest index, nor a later write.
    assert batch.parameters == {"temperature": 0.7, "max_completion_tokens": 2_048}


BODIES = Path(__file__).parents[1] / "providers" / "bodies" / "openai"


async def test_through_the_openai_adapter_the_family_limit_is_sent_and_the_answer_counts(
    runtime: Runtime, fake_llm: FakeLLMServer
) -> None:
    # The real adapter and SDK against a body shaped as OpenAI sends it: the runner asks
    # for the model family's output limit, and a whole answer is stored as a sample.
    runtime.providers.register(
        OpenAIProvider(api_key="sk-test", base_url=f"{fake_llm.base_url}/v1", timeout_seconds=5)
    )
    body = json.loads((BODIES / "chat_completion_stop_runner.json").read_text(encoding="utf-8"))
    fake_llm.config.bodies = [body, copy.deepcopy(body)]
    experiment_id = await _experiment(runtime, iterations=2)
    await runtime.executor.run_experiment(experiment_id)

    sent = [payload for path, payload in fake_llm.requests if path.endswith("/chat/completions")]
    assert [payload["max_completion_tokens"] for payload in sent] == [2_048, 2_048]
    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    assert (batch.status, batch.succeeded, batch.stored) == (BatchStatus.COMPLETED, 2, 2)
    row = (await _rows(runtime, batch.id))[0]
    assert (row.answer_class, row.input_tokens, row.output_tokens) == ("complete", 19, 61)
    assert row.model_version == "gpt-4o-mini-2024-07-18"
    assert batch.metrics is not None
    assert batch.metrics["visibility"]["value"] == 1.0


async def test_a_vendors_stop_reason_and_reasoning_are_stored_whatever_they_hold(
    runtime: Runtime, vendor: ClassedVendor
) -> None:
    # An OpenAI-compatible server may send any word as its finish reason, and reasoning
    # text is the vendor's, like the answer: PostgreSQL refuses NUL and over-long values.
    vendor.script[0] = [
        answer(AnswerClass.TRUNCATED, stop_reason="length\x00" + "x" * 300),
        answer(
            AnswerClass.TRUNCATED,
            stop_reason="length\x00" + "x" * 300,
            reasoning="thinking\x00 about HubSpot",
        ),
    ]
    experiment_id = await _experiment(runtime, iterations=1)
    await runtime.executor.run_experiment(experiment_id)

    (batch,) = await stored_batches(runtime.session_factory, experiment_id)
    row = (await _rows(runtime, batch.id))[0]
    assert row.stop_reason == "length\ufffd" + "x" * 93
    assert row.reasoning == "thinking\ufffd about HubSpot"
    assert batch.truncated == 1


def token_cost(input_tokens: int, output_tokens: int) -> Decimal | None:
    """What the price table makes of an answer of these token counts (no search)."""
    billed = Completion(
        text="", model_version=None, input_tokens=input_tokens,
        output_tokens=output_tokens, latency_ms=0.0,
    )  # fmt: skip
    return total_cost("openai", MODEL, [billed]).total_usd
