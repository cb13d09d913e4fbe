"""The sentiment judging as a background job: one queued or running per experiment (409),
verdicts stored chunk by chunk so that a stop keeps what was judged and an interrupted
judging goes on where it was (asking nothing twice), the catch-up sweep, and an estimate
whose reads stay bounded at any size."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, insert, select, update

from echo_ai.app import create_app
from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import sentiment_judge
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs.models import BatchRun, Iteration, JudgingStatus, SentimentJudging
from tests.experiments.test_router import BODY
from tests.experiments.test_sentiment_judge import ALWAYS
from tests.kit import app_runtime, register_and_login, wait_finished, wait_judged, wait_until

pytestmark = pytest.mark.usefixtures("backend")

DEMO = ProviderSpec.parse("demo")


async def _finished(client: httpx.AsyncClient, headers: dict[str, str], iterations: int) -> str:
    created = await client.post(
        "/v1/experiments",
        headers=headers,
        json={**BODY, "iterations": iterations, "demo_probabilities": ALWAYS},
    )
    assert created.status_code == 202, created.text
    experiment_id = str(created.json()["id"])
    await wait_finished(client, experiment_id, headers)
    return experiment_id


async def _queued(runtime: Runtime, experiment_id: str) -> uuid.UUID:
    """A judging stored ``queued`` and handed to nobody (as the CLI does before running it)."""
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
        judging = await sentiment_judge.start(
            session, runtime, experiment, DEMO, actor=Actor.cli(), now=utcnow(), judge_later=None
        )
        return judging.id


async def _row(runtime: Runtime, judging_id: uuid.UUID) -> SentimentJudging:
    async with transaction(runtime.session_factory) as session:
        found = await session.get_one(SentimentJudging, judging_id)
        session.expunge(found)
        return found


async def test_one_judging_at_a_time_and_a_stop_keeps_what_was_judged(
    client: httpx.AsyncClient, started_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sentiment_judge, "CHUNK", 10)
    runtime = app_runtime(started_app)
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=25)
    url = f"/v1/experiments/{experiment_id}/sentiment-judge"

    first = await _queued(runtime, experiment_id)
    second = await client.post(url, headers=ada, json={"provider": "demo"})
    assert second.status_code == 409, second.text
    assert "already queued or running" in second.json()["error"]["message"]
    rescore = await client.post(f"/v1/experiments/{experiment_id}/rescore", headers=ada)
    assert rescore.status_code == 409
    # Stopped while still queued: at once, nothing judged.
    stopped = await client.post(f"{url}/stop", headers=ada)
    assert stopped.status_code == 200, stopped.text
    assert (stopped.json()["status"], stopped.json()["judged"]) == ("stopped", 0)
    assert (await _row(runtime, first)).status is JudgingStatus.STOPPED
    assert (await client.post(f"{url}/stop", headers=ada)).status_code == 409

    # One slice (a chunk), then asked to stop: the next run ends it, keeping that chunk.
    judging_id = await _queued(runtime, experiment_id)
    more = await sentiment_judge.run(runtime.session_factory, runtime, judging_id, for_seconds=0)
    assert more is True
    running = (await client.get(url, headers=ada)).json()
    assert (running["status"], running["read"], running["judged"]) == ("running", 10, 10)
    asked = await client.post(f"{url}/stop", headers=ada)
    assert asked.json()["stop_requested"] is True and asked.json()["status"] == "running"
    await sentiment_judge.run(runtime.session_factory, runtime, judging_id)
    ended = (await client.get(url, headers=ada)).json()
    assert (ended["status"], ended["read"], ended["judged"]) == ("stopped", 10, 10)
    assert ended["stopped"] == "asked to stop"
    detail = (await client.get(f"/v1/experiments/{experiment_id}", headers=ada)).json()
    assert detail["sentiment_judge"]["status"] == "stopped"
    scorers = detail["providers"][0]["metrics"]["sentiment"]["HubSpot"]["scorers"]
    assert scorers["judge:demo:demo-synthetic-1"] == 10  # the judged chunk counts


async def test_an_interrupted_judging_goes_on_where_it_was(
    client: httpx.AsyncClient, started_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sentiment_judge, "CHUNK", 10)
    runtime = app_runtime(started_app)
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=25)
    judging_id = await _queued(runtime, experiment_id)
    await sentiment_judge.run(runtime.session_factory, runtime, judging_id, for_seconds=0)
    # Its process dies holding it: a claim made 5 minutes ago that nobody renews.
    claimed = utcnow() - timedelta(minutes=5)
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(SentimentJudging)
            .where(SentimentJudging.id == judging_id)
            .values(started_at=claimed, dispatched_at=None)
        )
    # Claimed recently by another: left alone.
    assert not await sentiment_judge.run(
        runtime.session_factory, runtime, judging_id, stale_after=timedelta(hours=1)
    )
    assert (await _row(runtime, judging_id)).read == 10
    # The sweep (a restarted process: ``after`` zero) hands it over; it goes on.
    async with transaction(runtime.session_factory) as session:
        again = await sentiment_judge.stalled(session, now=utcnow(), after=timedelta(minutes=1))
    assert again == [judging_id]
    async with transaction(runtime.session_factory) as session:  # dispatched: not again soon
        assert (
            await sentiment_judge.stalled(session, now=utcnow(), after=timedelta(minutes=1)) == []
        )
    await sentiment_judge.run(runtime.session_factory, runtime, judging_id)
    done = await _row(runtime, judging_id)
    assert (done.status, done.answers, done.read, done.judged) == (
        JudgingStatus.COMPLETED,
        25,
        25,
        25,
    )
    async with transaction(runtime.session_factory) as session:
        extractions = (
            await session.scalars(select(Iteration.extraction).where(Iteration.success.is_(True)))
        ).all()
    scorers = {
        found["scorer"] for extraction in extractions for found in extraction["sentiment"].values()
    }
    assert scorers == {"judge:demo:demo-synthetic-1"}


async def test_a_judging_left_for_a_day_is_given_up_keeping_what_was_judged(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=3)
    judging_id = await _queued(runtime, experiment_id)
    later = utcnow() + sentiment_judge.GIVE_UP_AFTER + timedelta(minutes=1)
    async with transaction(runtime.session_factory) as session:
        assert await sentiment_judge.stalled(session, now=later, after=timedelta(hours=1)) == []
    failed = await _row(runtime, judging_id)
    assert failed.status is JudgingStatus.FAILED and "within a day" in (failed.reason or "")


async def test_the_judging_runs_in_the_background_of_the_api(client: httpx.AsyncClient) -> None:
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=4)
    started = await client.post(
        f"/v1/experiments/{experiment_id}/sentiment-judge", headers=ada, json={"provider": "demo"}
    )
    assert started.status_code == 202, started.text
    assert started.json()["id"] and started.json()["judged_at"] is None
    ended = await wait_judged(client, ada, experiment_id)
    assert (ended["status"], ended["judged"], ended["read"]) == ("completed", 4, 4)
    assert ended["judged_at"] is not None
    never = await client.get(
        "/v1/experiments/00000000-0000-0000-0000-000000000000/sentiment-judge", headers=ada
    )
    assert never.status_code == 404


async def test_the_estimate_reads_a_bounded_number_of_rows_at_any_size(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=6)

    async def estimated() -> tuple[int, list[tuple[str, Any]]]:
        statements: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "iterations" in statement:
                statements.append((statement, parameters))

        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
            engine = runtime.engine.sync_engine
            event.listen(engine, "before_cursor_execute", record)
            try:
                out = await sentiment_judge.estimate(session, experiment, DEMO)
            finally:
                event.remove(engine, "before_cursor_execute", record)
        return out.answers, statements

    small, few = await estimated()
    assert small == 6
    async with transaction(runtime.session_factory) as session:
        first = (await session.scalars(select(Iteration).limit(1))).one()
        row = {
            column.key: getattr(first, column.key)
            for column in Iteration.__table__.columns
            if column.key not in ("id", "index")
        }
        await session.execute(
            insert(Iteration), [{**row, "id": uuid.uuid4(), "index": 6 + i} for i in range(5_000)]
        )
        await session.execute(  # as the writer moves it with the rows it stores
            update(BatchRun)
            .where(BatchRun.id == first.batch_run_id)
            .values(succeeded=BatchRun.succeeded + 5_000, stored=BatchRun.stored + 5_000)
        )
    large, many = await estimated()
    assert large == 5_006
    assert len(many) == len(few)  # the same queries at any size
    reads = [parameters for statement, parameters in many if "iterations.answer," in statement]
    assert reads, many
    for parameters in reads:  # each read of answers is limited to the cost sample
        limits = [value for value in _values(parameters) if isinstance(value, int)]
        assert limits and max(limits) <= sentiment_judge.COST_SAMPLE


def _values(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    return list(parameters)


async def test_an_embedded_service_takes_up_at_start_up_the_judging_its_predecessor_left(
    client: httpx.AsyncClient,
    started_app: FastAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sentiment_judge, "CHUNK", 10)
    runtime = app_runtime(started_app)
    ada = await register_and_login(client, "ada@example.com")
    experiment_id = await _finished(client, ada, iterations=25)
    judging_id = await _queued(runtime, experiment_id)
    await sentiment_judge.run(runtime.session_factory, runtime, judging_id, for_seconds=0)
    async with transaction(runtime.session_factory) as session:  # held by a process now gone
        await session.execute(
            update(SentimentJudging)
            .where(SentimentJudging.id == judging_id)
            .values(started_at=utcnow())
        )

    restarted = create_app(settings)
    async with restarted.router.lifespan_context(restarted):
        again = app_runtime(restarted)

        async def ended() -> bool:
            async with transaction(again.session_factory) as session:
                found = await session.get_one(SentimentJudging, judging_id)
                return found.status not in (JudgingStatus.QUEUED, JudgingStatus.RUNNING)

        await wait_until(ended, message="the restarted service did not finish the judging")
    done = await _row(runtime, judging_id)
    assert (done.status, done.read, done.judged) == (JudgingStatus.COMPLETED, 25, 25)
    assert done.dispatched_at is not None
