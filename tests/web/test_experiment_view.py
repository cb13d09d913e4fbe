"""The experiment page, its live progress, runs history and comparison, and the export
download, rendered without a browser (httpx on the app)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.experiments import service as experiment_service
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentStatus
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.web.pages.experiment_view import scan_position
from tests.kit import app_runtime, personal_viewer, register_and_login, wait_finished
from tests.web.pages import HTML, page, sign_in, text_of
from tests.web.workspace_pages import personal_workspace, queued_experiment, signed_in

OPENAI = "openai:gpt-4o-mini"


def _openai_at(settings: Settings, fake_llm: FakeLLMServer) -> None:
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"


def experiment_json(providers: list[str], iterations: int = 30, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Best CRM",
        "prompt": "What is the best CRM for a 10-person startup?",
        "brands": {
            "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
            "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
        },
        "providers": providers,
        "iterations": iterations,
        **extra,
    }


async def finished_experiment(
    client: httpx.AsyncClient, headers: dict[str, str], providers: list[str], **extra: Any
) -> dict[str, Any]:
    created = await client.post(
        "/v1/experiments", json=experiment_json(providers, **extra), headers=headers
    )
    assert created.status_code == 202, created.text
    return await wait_finished(client, created.json()["id"], headers)


async def set_batches(app: FastAPI, experiment_id: str, **values: Any) -> None:
    async with transaction(app_runtime(app).session_factory) as session:
        await session.execute(
            update(BatchRun)
            .where(BatchRun.experiment_id == uuid.UUID(experiment_id))
            .values(**values)
        )


async def set_status(app: FastAPI, experiment_id: str, status: ExperimentStatus) -> None:
    async with transaction(app_runtime(app).session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id == uuid.UUID(experiment_id))
            .values(status=status)
        )


def chart_json(html: str) -> str:
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    assert found, "the page has no chart data"
    return found.group(1)


def no_inline_code(html: str) -> None:
    """The CSP's rules: no inline script code, no style attributes, no on* handlers."""
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        attributes, body = script
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
        assert "src=" not in attributes or not body.strip()
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "hx-on" not in html


# --- states ---------------------------------------------------------------------------


async def test_a_completed_demo_experiment_shows_metrics_charts_and_answers_all_synthetic(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=40)
    html = await page(client, f"/experiments/{detail['id']}")
    text = text_of(html)

    no_inline_code(html)
    assert "Best CRM" in text and "completed" in text
    assert 'hx-trigger="every 2s"' not in html  # nothing to poll
    # The metrics table: the visibility with its interval and n, labelled synthetic.
    visibility = detail["combined"]["visibility"]
    shown = f"{visibility['value'] * 100:.1f}%"
    assert shown in text and "n = 40" in text
    # Every figure is labelled synthetic: each rate and each chart's heading.
    assert html.count('class="badge synthetic"') >= 20
    for heading in ("brands-heading", "providers-heading", "positions-heading", "sources-heading"):
        section = html.split(f'id="{heading}"')[1].split("</h2>")[0]
        assert "synthetic" in section, heading
    # Charts: Chart.js and our glue only on this page, the data as JSON beside the tables.
    assert "chart.umd.min" in html and "/static/charts." in html
    data = chart_json(html)
    assert '"brands"' in data and '"positions"' in data and "HubSpot" in data
    assert "Mention rate per brand" in html and "Position distribution of HubSpot" in html
    # Answers with the target highlighted from the stored offsets.
    assert re.search(r'<mark class="target" title="HubSpot" data-sentiment="[a-z]+">', html)
    assert "Export every answer" in text
    for fmt in ("csv", "json", "jsonl"):
        assert f"/experiments/{detail['id']}/export?format={fmt}" in html


async def test_the_owner_sees_the_actions_and_posts_them_with_the_csrf_token(
    client: httpx.AsyncClient,
) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=10)
    html = await page(client, f"/experiments/{detail['id']}")
    base = f"/experiments/{detail['id']}"
    for form in (f"{base}/rerun",):
        action = html.split(f'action="{form}"')[1].split("</form>")[0]
        assert 'name="csrf_token"' in action
    for link in (f"{base}/rescore", f"{base}/schedule", f"{base}/delete"):
        assert f'href="{link}"' in html
    assert f'href="/experiments/new?from={detail["id"]}"' in html
    assert f'action="{base}/cancel"' not in html  # finished: nothing to cancel


async def test_a_viewer_sees_no_action_buttons(client: httpx.AsyncClient, app: FastAPI) -> None:
    headers = await register_and_login(client, "owner@example.com")
    detail = await finished_experiment(client, headers, ["demo"], iterations=10)
    await personal_viewer(client, app_runtime(app), "owner@example.com", "bob@example.com")
    await sign_in(client, "bob@example.com")
    # The viewer's own personal workspace is chosen first; switch to the owner's.
    workspace_id = await personal_workspace(app, "owner@example.com")
    client.cookies.set("echo_workspace", str(workspace_id))

    html = await page(client, f"/experiments/{detail['id']}")

    assert "Best CRM" in html
    for word in ("/rerun", "/cancel", "/rescore", "/delete", "/schedule", "new?from="):
        assert word not in html, word
    assert "/export?format=csv" in html  # reading is for everyone


async def test_another_workspaces_experiment_is_not_found(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=5)
    await signed_in(client, "eve@example.com")
    experiment_id = detail["id"]
    for path in ("", "/runs", "/answers", "/export?format=csv", "/compare?a=1&b=1"):
        response = await client.get(f"/experiments/{experiment_id}{path}", headers=HTML)
        assert response.status_code == 404, path
        assert "Page not found" in response.text
    assert "HubSpot" not in response.text


async def test_signed_out_reader_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/experiments/{uuid.uuid4()}", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/experiments/")


async def test_a_queued_then_running_experiment_polls_its_progress_until_it_ends(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await signed_in(client)
    experiment_id = await queued_experiment(app, iterations=40)
    html = await page(client, f"/experiments/{experiment_id}")
    no_inline_code(html)
    assert f'hx-get="/experiments/{experiment_id}/progress"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "queued" in text_of(html)
    assert f'href="/experiments/{experiment_id}">Refresh' in html  # without JavaScript
    assert f'action="/experiments/{experiment_id}/cancel"' in html

    await set_batches(
        app, experiment_id, status=BatchStatus.RUNNING, stored=12, succeeded=11, failed=1
    )
    await set_status(app, experiment_id, ExperimentStatus.RUNNING)
    hx = {"HX-Request": "true", **HTML}
    fragment = await client.get(f"/experiments/{experiment_id}/progress", headers=hx)
    assert fragment.status_code == 200
    assert "HX-Refresh" not in fragment.headers
    assert 'hx-trigger="every 2s"' in fragment.text
    assert 'value="12"' in fragment.text and "12 / 40" in fragment.text
    assert "<html" not in fragment.text  # a fragment, not a page

    await set_batches(app, experiment_id, status=BatchStatus.COMPLETED, stored=40)
    await set_status(app, experiment_id, ExperimentStatus.COMPLETED)
    final = await client.get(f"/experiments/{experiment_id}/progress", headers=hx)
    assert final.status_code == 200
    assert final.headers["HX-Refresh"] == "true"
    assert "hx-trigger" not in final.text  # polling stops

    # Without htmx the progress address leads to the page.
    plain = await client.get(f"/experiments/{experiment_id}/progress", headers=HTML)
    assert plain.status_code == 303 and plain.headers["location"] == f"/experiments/{experiment_id}"


async def test_a_partial_run_names_the_failed_provider_with_its_sentence(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    fake_llm.config.quota_exhausted = True
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo", OPENAI], iterations=10)
    assert detail["status"] == "partial"

    text = text_of(await page(client, f"/experiments/{detail['id']}"))

    assert "partial" in text
    assert "1 provider failed in this run" in text
    failed = next(b for b in detail["providers"] if b["provider"] == "openai")
    assert f"{OPENAI} : {failed['error']}" in text
    assert "quota_exhausted" in text


async def test_a_failed_run_shows_why_and_the_failed_answers(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    fake_llm.config.quota_exhausted = True
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, [OPENAI], iterations=5)
    assert detail["status"] == "failed"

    html = await page(client, f"/experiments/{detail['id']}")
    text = text_of(html)
    assert "failed" in text and "1 provider failed in this run" in text
    assert "The call failed:" in text
    failed_only = await page(client, f"/experiments/{detail['id']}/answers?shown=failed")
    assert text_of(failed_only).count("The call failed:") == 5


async def test_a_cancelled_experiment_says_so(client: httpx.AsyncClient, app: FastAPI) -> None:
    headers = await signed_in(client)
    experiment_id = await queued_experiment(app, iterations=40)
    cancelled = await client.post(f"/v1/experiments/{experiment_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text

    html = await page(client, f"/experiments/{experiment_id}")

    assert 'class="badge status-cancelled"' in html
    assert 'hx-trigger="every 2s"' not in html


async def test_a_real_provider_run_is_not_labelled_synthetic(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, [OPENAI], iterations=10)
    assert detail["status"] == "completed" and not detail["synthetic"]

    html = await page(client, f"/experiments/{detail['id']}")

    assert "synthetic" not in html.lower()
    assert "n = 10" in text_of(html)


# --- export -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
async def test_the_export_download_is_the_api_export(client: httpx.AsyncClient, fmt: str) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=12)

    download = await client.get(f"/experiments/{detail['id']}/export?format={fmt}", headers=HTML)
    api = await client.get(f"/v1/experiments/{detail['id']}/export.{fmt}", headers=headers)

    assert download.status_code == 200 and api.status_code == 200
    assert download.content == api.content
    assert download.headers["content-type"] == api.headers["content-type"]
    assert download.headers["content-disposition"] == (
        f'attachment; filename="experiment-{detail["id"]}.{fmt}"'
    )


async def test_an_unknown_export_format_is_a_friendly_error(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=3)
    response = await client.get(f"/experiments/{detail['id']}/export?format=xls", headers=HTML)
    assert response.status_code == 400
    assert "Traceback" not in response.text and "Request id" in response.text


# --- runs and comparison ----------------------------------------------------------------


async def test_runs_history_lists_every_run_and_compares_two(client: httpx.AsyncClient) -> None:
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=30)
    experiment_id = detail["id"]
    # Two more runs of the same experiment (rounds 2 and 3), as a schedule makes them.
    for _ in range(2):
        await rerun_round(client, experiment_id)
        await wait_finished(client, experiment_id, headers)

    runs = await page(client, f"/experiments/{experiment_id}/runs")
    text = text_of(runs)
    for round_ in (1, 2, 3):
        assert f'value="{round_}"' in runs
    assert text.count("n = 30") >= 6  # per provider and combined, each run
    assert 'action="/experiments/' + experiment_id + '/compare"' in runs

    compare = await page(client, f"/experiments/{experiment_id}/compare?a=1&b=3")
    compared = text_of(compare)
    assert "Run 1 (A) vs run 3 (B)" in compared
    assert "significant" in compared  # each change says whether it is significant
    assert "Salesforce" in compared and "HubSpot" in compared

    missing = await client.get(f"/experiments/{experiment_id}/compare?a=1&b=9", headers=HTML)
    assert missing.status_code == 404 and "no run 9" in missing.text

    detail_page = await page(client, f"/experiments/{experiment_id}")
    assert '"trend"' in chart_json(detail_page) and "Visibility across runs" in detail_page


def app_runtime_of(client: httpx.AsyncClient) -> Any:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return app_runtime(transport.app)  # type: ignore[arg-type]


async def rerun_round(client: httpx.AsyncClient, experiment_id: str) -> None:
    """Start the next run (round) of the experiment, as the scheduler does."""
    runtime = app_runtime_of(client)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
        await run_service.start_run(session, experiment, chunk_size=10, now=utcnow())
    await runtime.executor.run_experiment(uuid.UUID(experiment_id))


def run_status_on(runs_html: str, round_: int) -> str:
    """The status badge of a run in the runs history."""
    found = re.search(
        rf'<td data-label="Run"><strong>{round_}</strong></td>.*?'
        r'<td data-label="Status"><span class="badge status-(\w+)">',
        runs_html,
        re.S,
    )
    assert found, f"no run {round_}"
    return found.group(1)


async def test_a_runs_status_with_cancelled_batches_follows_the_experiments_rule(
    client: httpx.AsyncClient,
) -> None:
    """Completed beside cancelled batches make a completed run (a user stopped one);
    failed beside cancelled a failed one: in the history and the comparison as for the
    experiment's own status."""
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo", "demo:other"], iterations=10)
    experiment_id = detail["id"]
    await rerun_round(client, experiment_id)
    await wait_finished(client, experiment_id, headers)
    runtime = app_runtime_of(client)
    async with transaction(runtime.session_factory) as session:
        for round_, model, status in (
            (1, "other", BatchStatus.CANCELLED),
            (2, "demo-synthetic-1", BatchStatus.FAILED),
            (2, "other", BatchStatus.CANCELLED),
        ):
            await session.execute(
                update(BatchRun)
                .where(
                    BatchRun.experiment_id == uuid.UUID(experiment_id),
                    BatchRun.round == round_,
                    BatchRun.model == model,
                )
                .values(status=status)
            )
        await run_service.refresh_experiment_status(session, uuid.UUID(experiment_id))

    runs = await page(client, f"/experiments/{experiment_id}/runs")
    assert run_status_on(runs, 1) == "completed"
    assert run_status_on(runs, 2) == "failed"
    experiment_page = await page(client, f"/experiments/{experiment_id}")
    summary = experiment_page.split("<dt>Status</dt>")[1].split("</dd>")[0]
    assert 'class="badge status-failed"' in summary  # the experiment's own status
    compare = await page(client, f"/experiments/{experiment_id}/compare?a=1&b=2")
    assert re.search(r"<dt>A: run 1</dt><dd><span class=\"badge status-completed\">", compare)
    assert re.search(r"<dt>B: run 2</dt><dd><span class=\"badge status-failed\">", compare)


async def test_each_run_in_the_trend_is_labelled_synthetic_by_its_own_batches(
    client: httpx.AsyncClient, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    """Run 1 by the demo provider, run 2 by a real one: only run 1 is synthetic in the
    trend; the metrics table's Answers row is labelled like every other figure."""
    _openai_at(settings, fake_llm)
    headers = await signed_in(client)
    detail = await finished_experiment(client, headers, ["demo"], iterations=10)
    experiment_id = detail["id"]
    first = await page(client, f"/experiments/{experiment_id}")
    answers_row = first.split('<th scope="row">Answers')[1].split("</tr>")[0]
    assert 'class="badge synthetic"' in answers_row

    runtime = app_runtime_of(client)
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(Experiment)
            .where(Experiment.id == uuid.UUID(experiment_id))
            .values(providers=[OPENAI])
        )
    await rerun_round(client, experiment_id)
    await wait_finished(client, experiment_id, headers)

    html = await page(client, f"/experiments/{experiment_id}")
    trend = html.split('id="trend-heading"')[1].split("</section>")[0]
    rows = {
        int(m.group(1)): m.group(0)
        for m in re.finditer(r'<tr><td data-label="Run">(\d+)</td>.*?</tr>', trend, re.S)
    }
    assert set(rows) == {1, 2}
    assert 'class="badge synthetic"' in rows[1]
    assert "synthetic" not in rows[2]
    assert "synthetic" in trend.split("</h2>")[0]  # the chart holds a synthetic run
    answers_row = html.split('<th scope="row">Answers')[1].split("</tr>")[0]
    assert "synthetic" not in answers_row  # run 2's metrics: a real provider


@pytest.mark.parametrize(("text", "position"), [("-1", -1), ("0", 0), ("41", 41)])
def test_an_answers_cursor_position_is_an_index_or_minus_one(text: str, position: int) -> None:
    assert scan_position(text) == position


@pytest.mark.parametrize("text", ["-2", "x", "1.5", str(2**40)])
def test_other_answers_cursor_positions_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid literal|out of range"):
        scan_position(text)
