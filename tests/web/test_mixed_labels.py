"""A run of real providers and the demo: the pooled figures are the real providers' (the
demo is combined apart), so they carry no synthetic label, while the demo's own do."""

from __future__ import annotations

import httpx

from echo_ai.config import Settings
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.web.pages import page
from tests.web.test_experiment_view import OPENAI, _openai_at, finished_experiment
from tests.web.workspace_pages import signed_in

BADGE = 'class="badge synthetic"'


def _section(html: str, heading_id: str) -> str:
    return html.split(f'id="{heading_id}"')[1].split("</section>")[0]


async def test_pooled_real_figures_are_not_labelled_synthetic_beside_the_demo(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    mixed = await finished_experiment(client, headers, ["demo", OPENAI], iterations=10)
    html = await page(client, f"/experiments/{mixed['id']}")

    # The demo ran: the page says so, and the demo's own column is labelled.
    assert "Synthetic data" in html
    assert BADGE in _section(html, "providers-heading")
    # The brands, positions and sources pool the real provider alone: no label there.
    for pooled in ("brands-heading", "positions-heading", "sources-heading"):
        assert BADGE not in _section(html, pooled), pooled
    assert f"{OPENAI} pooled (the demo is combined apart)" not in html  # one real provider
    # The same page of a demo-only experiment labels them all.
    demo = await finished_experiment(client, headers, ["demo"], iterations=10)
    only_demo = await page(client, f"/experiments/{demo['id']}")
    for pooled in ("brands-heading", "positions-heading", "sources-heading"):
        assert BADGE in _section(only_demo, pooled), pooled
