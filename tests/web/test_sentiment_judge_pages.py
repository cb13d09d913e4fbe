"""The sentiment judge page: the estimate for the model typed, the judging (the demo judge,
synthetic), the experiment page naming the scorer, the raw answers marking judged
brands, and refusals shown in the form."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.experiments import sentiment_judge
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.registry import ProviderSpec
from tests.kit import app_runtime, wait_judged
from tests.web.pages import page, post_form, text_of
from tests.web.test_experiment_view import finished_experiment
from tests.web.workspace_pages import signed_in

pytestmark = pytest.mark.usefixtures("backend")


async def test_judge_from_the_page_and_see_the_scorer(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=8)
    base = f"/experiments/{detail['id']}"
    before = text_of(await page(client, base))
    assert "Scored by the local lexicon scorer." in before and "Judge with a model" in before

    form = await page(client, f"{base}/sentiment-judge")
    assert "demo:demo-synthetic-1" in text_of(form) and "synthetic" in form
    assert 'id="judge-estimate"' in form and "about $0.00 at most" in text_of(form)
    assert "Run 1: 8 complete answers" in text_of(form)
    assert "one run (the latest unless you pick another), all its complete answers" in form
    judged = await post_form(
        client,
        f"{base}/sentiment-judge",
        {"provider": "demo"},
        token_from=f"{base}/sentiment-judge",
    )
    assert judged.status_code == 303, judged.text
    assert judged.headers["location"] == f"{base}/sentiment-judge?provider=demo"
    ended = await wait_judged(client, headers, detail["id"])
    assert ended["status"] == "completed"
    fragment = await client.get(
        f"{base}/sentiment-judge/progress", headers={**headers, "HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "hx-trigger" not in fragment.text  # ended: it no longer polls
    assert "completed" in fragment.text and "8 of 8 complete answers done" in text_of(fragment.text)

    after = text_of(await page(client, base))
    assert "Judged by demo:demo-synthetic-1 synthetic" in after
    assert "judge:demo:demo-synthetic-1" in after  # the "Scored by" column
    answers = await page(client, f"{base}/answers")
    assert 'data-scorer="judge:demo:demo-synthetic-1"' in answers and "(judge)" in answers


async def test_refusals_come_back_in_the_form(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=2)
    base = f"/experiments/{detail['id']}"
    settings.vendor_environment.clear()
    missing = await post_form(
        client,
        f"{base}/sentiment-judge",
        {"provider": "anthropic"},
        token_from=f"{base}/sentiment-judge",
    )
    assert missing.status_code == 400 and "ANTHROPIC_API_KEY is not set" in missing.text
    unknown = await page(client, f"{base}/sentiment-judge?provider=nope", status=200)
    assert "unknown provider" in text_of(unknown) and 'id="judge-estimate"' not in unknown


async def test_the_progress_fragment_polls_while_the_judging_is_queued(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=3)
    base = f"/experiments/{detail['id']}"
    runtime = app_runtime(started_app)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, uuid.UUID(detail["id"]))
        await sentiment_judge.start(
            session,
            runtime,
            experiment,
            ProviderSpec.parse("demo"),
            actor=Actor.cli(),
            now=utcnow(),
            judge_later=None,
        )
    fragment = await client.get(
        f"{base}/sentiment-judge/progress", headers={**headers, "HX-Request": "true"}
    )
    assert 'hx-trigger="every 1s"' in fragment.text and "queued" in fragment.text
    assert "Stop judging" in fragment.text
    full = await page(client, f"{base}/sentiment-judge")
    assert 'id="judging"' in full and "Judge 3 answers" in full
    assert "disabled" in full  # a second judging cannot be started from the form
    stopped = await post_form(
        client, f"{base}/sentiment-judge/stop", {}, token_from=f"{base}/sentiment-judge"
    )
    assert stopped.status_code == 303, stopped.text
    after = text_of(await page(client, f"{base}/sentiment-judge"))
    assert "stopped before it started: nothing was judged" in after
