"""The raw answers of the experiment page: highlighting from the stored offsets (escaped,
non-ASCII), filters, keyset paging, links, and the bounded scan of a filtered page."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select

from echo_ai.analysis.extraction import BrandMatcher
from echo_ai.analysis.scoring import failure_row, success_row
from echo_ai.db import transaction
from echo_ai.experiments import history
from echo_ai.experiments import service as experiment_service
from echo_ai.providers.base import Citation, Completion, ProviderError
from echo_ai.runs.models import BatchRun, Iteration
from echo_ai.web.pages.experiment_view import highlight, safe_link
from tests.factories import brand_set, experiment_input
from tests.kit import app_runtime
from tests.web.pages import HTML, page
from tests.web.workspace_pages import queued_experiment, signed_in, text_of

BRANDS = brand_set()
MATCHER = BrandMatcher(BRANDS)


def extraction(text: str) -> dict[str, Any]:
    return MATCHER.extract(text).to_dict()


def unscored(html: str) -> str:
    """The marks without their sentiment (tests/web/test_sentiment_pages.py checks it)."""
    return re.sub(r' data-sentiment="[a-z]+"', "", html)


# --- highlighting -----------------------------------------------------------------------


def test_mentions_are_marked_from_the_offsets_and_everything_else_is_escaped() -> None:
    answer = '<script>alert("x")</script> Try HubSpot & Salesforce; avoid <b>Zoho</b>.'
    html = unscored(str(highlight(answer, extraction(answer), "HubSpot")))

    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert '<mark class="target" title="HubSpot">HubSpot</mark> &amp; ' in html
    assert '<mark title="Salesforce">Salesforce</mark>' in html
    assert '&lt;b&gt;<mark title="Zoho CRM">Zoho</mark>&lt;/b&gt;' in html


def test_offsets_count_characters_so_non_ascii_text_is_marked_right() -> None:
    answer = "Für Teams 🙂 in Zürich: HubSpot — oder Pipedrive (günstig)."
    html = unscored(str(highlight(answer, extraction(answer), "HubSpot")))

    assert 'Für Teams 🙂 in Zürich: <mark class="target" title="HubSpot">HubSpot</mark>' in html
    assert '— oder <mark title="Pipedrive">Pipedrive</mark> (günstig).' in html


def test_offsets_outside_the_text_or_overlapping_are_skipped() -> None:
    stored = {
        "mentions": [
            {"brand": "HubSpot", "term": "HubSpot", "start": 0, "end": 7},
            {"brand": "Salesforce", "term": "Spot", "start": 3, "end": 7},
            {"brand": "Pipedrive", "term": "x", "start": 40, "end": 49},
        ]
    }
    html = str(highlight("HubSpot <3", stored, "HubSpot"))
    assert html == '<mark class="target" title="HubSpot">HubSpot</mark> &lt;3'
    assert str(highlight("plain & simple", None, "HubSpot")) == "plain &amp; simple"


def test_only_http_links_are_links() -> None:
    assert safe_link("https://hubspot.com/crm") == "https://hubspot.com/crm"
    assert safe_link("http://example.com") == "http://example.com"
    for bad in ("javascript:alert(1)", " JAVASCRIPT:alert(1)", "data:text/html,x", "//x", 3):
        assert safe_link(bad) is None


# --- stored answers ---------------------------------------------------------------------


ANSWERS = [
    "HubSpot is the best choice for a small team.",
    "Salesforce & Pipedrive <both> work; see the docs.",
]


async def store_answers(app: FastAPI, experiment_id: str, count: int, *, failed_every: int) -> None:
    """``count`` iterations in each batch of the experiment: alternately naming the target
    and not, every ``failed_every``-th a failed call."""
    async with transaction(app_runtime(app).session_factory) as session:
        batches = list(
            await session.scalars(
                select(BatchRun).where(BatchRun.experiment_id == uuid.UUID(experiment_id))
            )
        )
        rows = []
        for batch in batches:
            for index in range(count):
                if index % failed_every == failed_every - 1:
                    rows.append(
                        failure_row(
                            batch_run_id=batch.id,
                            index=index,
                            vendor=batch.provider,
                            model=batch.model,
                            error=ProviderError("the vendor timed out"),
                            attempts=3,
                        )
                    )
                    continue
                text = ANSWERS[index % 2]
                completion = Completion(
                    text=text,
                    model_version="m",
                    input_tokens=10,
                    output_tokens=20,
                    latency_ms=120.0,
                    citations=(
                        Citation(url="https://hubspot.com/crm", title="HubSpot CRM"),
                        Citation(url="javascript:alert(1)", title="evil"),
                    ),
                    sources=(Citation(url="https://g2.com/crm", title="G2"),),
                    search_queries=("best crm small team",),
                )
                rows.append(
                    success_row(
                        batch_run_id=batch.id,
                        index=index,
                        vendor=batch.provider,
                        model=batch.model,
                        completion=completion,
                        attempts=1,
                        matcher=MATCHER,
                    )
                )
        await session.execute(insert(Iteration), rows)


async def test_answers_are_filtered_and_paged_without_javascript(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await signed_in(client)
    experiment_id = await queued_experiment(app, providers=["demo", "demo:other"], iterations=30)
    await store_answers(app, experiment_id, 30, failed_every=10)  # 3 failed per batch
    base = f"/experiments/{experiment_id}/answers"

    first = await page(client, base)
    assert first.count('<article class="answer') == 10
    assert "<both>" not in first and "&lt;both&gt;" in first
    assert (
        '<a href="https://hubspot.com/crm" rel="noopener noreferrer nofollow">HubSpot CRM</a>'
        in first
    )
    assert 'href="javascript:' not in first and "evil" in first  # shown, not linked
    assert "best crm small team" in first

    # Walk every page of "names the target": 2 batches x 15 naming answers (index even, not failed).
    seen: list[str] = []
    url: str | None = f"{base}?shown=mentioned"
    while url:
        html = await page(client, url.replace("&amp;", "&"))
        seen += list(html.split('class="answer-title">')[1:])
        assert "does not name" not in html and "The call failed" not in html
        found = html.split('class="button small" href="')
        url = found[1].split('"')[0] if len(found) > 1 and "Next answers" in found[1] else None
    naming = [i for i in range(30) if i % 2 == 0 and i % 10 != 9]
    assert len(seen) == 2 * len(naming)

    failed = text_of(await page(client, f"{base}?shown=failed"))
    assert failed.count("The call failed: the vendor timed out") == 6
    not_naming = await page(client, f"{base}?shown=not-mentioned&provider=demo:other")
    assert (
        "does not name HubSpot" in not_naming
        and "demo:demo-synthetic-1"
        not in text_of(not_naming).split("Answers of run")[1].split("Show answers")[1]
    )

    # htmx swaps only the list.
    fragment = await client.get(
        f"{base}?shown=failed", headers={"HX-Request": "true", "HX-Target": "answers", **HTML}
    )
    assert fragment.text.lstrip().startswith('<div id="answers"') and "<html" not in fragment.text

    bad = await client.get(f"{base}?cursor=not-a-cursor", headers=HTML)
    assert bad.status_code == 400 and "Request id" in bad.text
    wrong = await client.get(f"{base}?shown=everything", headers=HTML)
    assert wrong.status_code in (400, 422) and "Traceback" not in wrong.text


@pytest.mark.usefixtures("backend")
async def test_a_filtered_page_looks_through_a_bounded_stretch_and_continues(
    app: FastAPI, started_app: FastAPI
) -> None:
    factory = app_runtime(app).session_factory
    async with transaction(factory) as session:
        experiment = await experiment_service.create(
            session, experiment_input(iterations=40), chunk_size=10
        )
        experiment_id = str(experiment.id)
    await store_answers(app, experiment_id, 40, failed_every=20)  # failed: 19 and 39

    async with transaction(factory) as session:
        batches = await history.round_batches(session, uuid.UUID(experiment_id), [1])
        found: list[int] = []
        after = None
        stops = 0
        while True:
            result = await history.answers_page(
                session,
                batches,
                target="HubSpot",
                shown=history.Shown.FAILED,
                limit=5,
                after=after,
                scan_limit=8,
            )
            found += [item.index for item in result.items]
            stops += result.exhausted_scan
            if result.after is None:
                break
            after = result.after
        assert found == [19, 39]
        assert stops >= 4  # 40 positions, 8 at a time

        mentioned = await history.answers_page(
            session, batches, target="HubSpot", shown=history.Shown.MENTIONED, limit=100
        )
        assert [i.index for i in mentioned.items] == list(range(0, 40, 2))
        assert mentioned.after is None
