"""The sentiment judge in a browser, against a served site whose OpenAI is the local fake
server: start a judging, watch its progress (htmx polling) while the judge's calls are
held, then see it end and the sentiment judged."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from echo_ai.testing.fake_llm import FakeLLMServer
from tests.live import ServeProcess, serve_env
from tests.web.browser import checkpoint, chromium_missing, create_account, finished_demo_run
from tests.web.conftest import NewPage
from tests.web.test_browser_sentiment import BODY


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, _fake_llm_session: FakeLLMServer
) -> Iterator[ServeProcess]:
    """``echo-ai serve`` whose OpenAI is the fake server (the demo runs the answers)."""
    if chromium_missing():
        pytest.skip(str(chromium_missing()))
    root = tmp_path_factory.mktemp("served")
    env = serve_env(root / "data")
    env["OPENAI_API_KEY"] = "sk-test"
    env["OPENAI_BASE_URL"] = f"{_fake_llm_session.base_url}/v1"
    server = ServeProcess(env, cwd=root)
    try:
        yield server
    finally:
        server.stop()


def test_start_a_judging_watch_its_progress_and_see_it_done(
    new_page: NewPage, served: ServeProcess, fake_llm: FakeLLMServer
) -> None:
    page = new_page()
    create_account(page, "judging@example.com")
    experiment_id = finished_demo_run(served.url, "judging@example.com", {**BODY, "iterations": 6})
    fake_llm.config.hang_rate = 1.0  # the judge's calls wait until released
    fake_llm.config.hang_seconds = 60

    page.goto(f"/experiments/{experiment_id}/sentiment-judge?provider=openai:gpt-4o-mini")
    expect(page.locator("#judge-estimate")).to_contain_text("Run 1: 6 complete answers")
    page.get_by_role("button", name=re.compile(r"^Judge 6 answers$")).click()

    judging = page.locator("#judging")
    status = page.locator("#judging-status")
    expect(status).to_contain_text(re.compile(r"\b(queued|running)\b"))
    expect(judging).to_contain_text("0 of 6 complete answers done")
    expect(judging.get_by_role("button", name="Stop judging")).to_be_visible()
    checkpoint(page)

    fake_llm.config.hang_rate = 0.0
    fake_llm.release_stalled()
    expect(status).to_contain_text("completed", timeout=30_000)  # polled, no reload
    expect(judging).to_contain_text("6 of 6 complete answers done")
    checkpoint(page)
    judging.get_by_role("link", name="See the sentiment").click()
    expect(page.locator("#sentiment-scorer")).to_contain_text("Judged by openai:gpt-4o-mini")
