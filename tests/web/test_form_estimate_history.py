"""The new-experiment form's estimate prices each model on its typical answer in the
workspace's past runs once it has some, and says which basis it used."""

from __future__ import annotations

import httpx

from echo_ai.config import Settings
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.web.pages import HTML, text_of
from tests.web.test_experiment_view import _openai_at, finished_experiment
from tests.web.workspace_pages import signed_in


async def test_the_form_estimate_uses_past_answers_and_shows_its_basis(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    query = {
        "providers": ["openai"],
        "model_openai": "gpt-4o-mini",
        "iterations": "50",
        "prompt": "What is the best CRM for a 10-person startup?",
    }

    async def estimate_text() -> str:
        response = await client.get("/experiments/new/estimate", params=query, headers=HTML)
        assert response.status_code == 200
        return text_of(response.text)

    assert "500 out (assumed)" in await estimate_text()

    done = await finished_experiment(client, headers, ["openai:gpt-4o-mini"], iterations=6)
    assert done["status"] == "completed"
    metrics = done["providers"][0]["metrics"]
    out = -(-metrics["output_tokens"] // 6)
    assert f"{out:,} out (history (6 answers))" in await estimate_text()
