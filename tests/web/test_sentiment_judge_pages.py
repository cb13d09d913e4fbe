"""The sentiment judge page: the estimate for the model typed, the judging (the demo judge,
synthetic), the experiment page naming the scorer, the raw answers marking judged
brands, and refusals shown in the form."""

from __future__ import annotations

import httpx
import pytest

from echo_ai.config import Settings
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
    assert 'id="judge-estimate"' in form and "at most $0.00" in text_of(form)
    judged = await post_form(
        client,
        f"{base}/sentiment-judge",
        {"provider": "demo"},
        token_from=f"{base}/sentiment-judge",
    )
    assert judged.status_code == 303, judged.text
    assert judged.headers["location"] == f"{base}#sentiment"

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
