"""The overview page: empty state and demo experiment, the latest visibility of each
experiment with its change since the previous run (marked when significant, by the
project's test), the sparkline of its history, status and schedule, cost this month,
paging, and who may start the demo."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.analysis.metrics import Rate
from echo_ai.analysis.significance import Figure, Metric, compare_figures
from echo_ai.db import transaction, utcnow
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentRound, ExperimentStatus
from echo_ai.schedules.schemas import ScheduleIn
from echo_ai.web import format as fmt
from echo_ai.web.pages.overview import DEMO, PAGE_SIZE
from echo_ai.workspaces.models import Role
from tests.factories import experiment_input
from tests.kit import FINISHED, app_runtime, wait_until
from tests.web.pages import HTML, page, post_form, sign_up
from tests.web.workspace_pages import personal_workspace, team_with, text_of, without_csrf


async def _finished(app: FastAPI, experiment_id: uuid.UUID, runs: int) -> None:
    async def done() -> bool:
        async with transaction(app_runtime(app).session_factory) as session:
            experiment = await session.get(Experiment, experiment_id)
            assert experiment is not None
            return experiment.runs == runs and experiment.status in FINISHED

    await wait_until(done, within=120, message="the run did not finish")


def _significant(before: Rate, after: Rate) -> bool:
    """The overview's rule: the visibility of two runs tested alone (its q is its p)."""
    visibility = Figure(None, Metric.VISIBILITY)
    tested = compare_figures({visibility: before}, {visibility: after}).get(visibility)
    assert tested is not None and tested.q_value == tested.p_value
    return tested.significant


async def _run_again(
    app: FastAPI, experiment_id: uuid.UUID, probabilities: dict[str, float]
) -> None:
    """A second (third...) run of the experiment with other demo probabilities."""
    runtime = app_runtime(app)
    async with transaction(runtime.session_factory) as session:
        experiment = await experiment_service.get(session, experiment_id)
        experiment.demo_probabilities = probabilities
        await run_service.start_run(session, experiment, chunk_size=50, now=utcnow())
        runs = experiment.runs
    await runtime.executor.run_experiment(experiment_id)
    await _finished(app, experiment_id, runs)


async def _visibility(app: FastAPI, experiment_id: uuid.UUID, round_: int) -> Rate:
    async with transaction(app_runtime(app).session_factory) as session:
        stored = await run_service.stored_round(session, experiment_id, round_)
        assert stored is not None and stored.combined is not None and stored.complete
        return Rate.model_validate(stored.combined["visibility"])


def _row(html: str, experiment_id: uuid.UUID) -> str:
    """The overview's table row of the experiment."""
    found = re.search(
        rf'<tr>\s*<td data-label="Experiment"><a href="/experiments/{experiment_id}">.*?</tr>',
        html,
        re.S,
    )
    assert found, f"no row for {experiment_id}"
    return found.group(0)


async def test_signed_out_goes_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


async def test_the_empty_overview_explains_the_first_step_and_offers_the_demo(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    html = await page(client, "/")
    assert 'href="/brands/new"' in html and 'href="/experiments/new"' in html
    assert 'action="/demo"' in html and "Try a demo experiment" in html
    assert "Cost this month" in html and "$0.00" in html
    assert "<table" not in html


async def test_the_demo_runs_and_shows_a_synthetic_figure(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    response = await post_form(client, "/demo")
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/experiments/[0-9a-f-]{36}", location)
    experiment_id = uuid.UUID(location.rsplit("/", 1)[1])
    await _finished(app, experiment_id, 1)

    html = await page(client, "/")
    row = _row(html, experiment_id)
    visibility = await _visibility(app, experiment_id, 1)
    assert visibility.denominator == DEMO["iterations"]
    assert fmt.percent(visibility.value) in row
    assert fmt.number(visibility.denominator) in row
    assert visibility.ci_low is not None and visibility.ci_high is not None
    assert fmt.points((visibility.ci_high - visibility.ci_low) / 2) in row
    assert "synthetic" in row and "completed" in row
    assert "One run so far" in row and "<polyline" not in row
    assert "Runs once" in row
    assert 'action="/demo"' not in html  # no empty state any more


async def test_change_since_the_previous_run_is_marked_when_significant(
    backend: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Two demo runs far apart (62% then 5% of answers name the brand): the change and
    its marker, and the sparkline from the stored figures; an experiment named in every
    answer of both runs has no significant change."""
    await sign_up(client)
    runtime = app_runtime(app)
    workspace_id = await personal_workspace(app, "ada@example.com")
    async with transaction(runtime.session_factory) as session:
        moving = (
            await experiment_service.queue(
                session,
                experiment_input(iterations=150, demo_probabilities={"HubSpot": 0.62}),
                workspace_id=workspace_id,
                actor=Actor.cli(),
                runtime=runtime,
            )
        ).experiment
        steady = (
            await experiment_service.queue(
                session,
                experiment_input(name="Steady", iterations=30, demo_probabilities={"HubSpot": 1.0}),
                workspace_id=workspace_id,
                actor=Actor.cli(),
                runtime=runtime,
            )
        ).experiment
    await _finished(app, moving.id, 1)
    await _finished(app, steady.id, 1)
    await _run_again(app, moving.id, {"HubSpot": 0.05})
    await _run_again(app, steady.id, {"HubSpot": 1.0})

    html = await page(client, "/")
    before, after = await _visibility(app, moving.id, 1), await _visibility(app, moving.id, 2)
    assert before.value is not None and after.value is not None
    row = _row(html, moving.id)
    assert _significant(before, after)  # 62% against 5% of 150 answers
    assert fmt.percent(after.value) in row
    assert fmt.signed_points(after.value - before.value) in row
    assert "marker-significant" in row and "▼" in row
    assert "significant" in text_of(row) and "not significant" not in text_of(row)
    label = (
        f"Visibility over the last 2 runs: {fmt.percent(before.value)}, {fmt.percent(after.value)}"
    )
    assert f">{label}</title>" in row
    points = re.search(r'<polyline points="([^"]+)"', row)
    assert points is not None
    (x1, y1), (x2, y2) = (tuple(map(float, p.split(","))) for p in points.group(1).split())
    assert (x1, x2) == (0.0, 100.0) and y2 > y1  # lower visibility, lower on the line
    assert "style=" not in html and "<script>" not in html

    steady_before = await _visibility(app, steady.id, 1)
    steady_after = await _visibility(app, steady.id, 2)
    assert not _significant(steady_before, steady_after)
    steady_row = _row(html, steady.id)
    assert "marker-significant" not in steady_row and "not significant" in text_of(steady_row)


async def test_states_schedule_and_paging(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Queued experiments without answers, a paused and an active schedule, and more
    experiments than a page holds."""
    await sign_up(client)
    runtime = app_runtime(app)
    workspace_id = await personal_workspace(app, "ada@example.com")
    ids = []
    async with transaction(runtime.session_factory) as session:
        for number in range(PAGE_SIZE + 1):
            schedule = ScheduleIn(cron="0 9 * * 1", timezone="Europe/Paris") if number < 2 else None
            created = await experiment_service.create(
                session,
                experiment_input(name=f"Experiment {number}", schedule=schedule),
                chunk_size=10,
                workspace_id=workspace_id,
            )
            ids.append(created.id)
        paused = await session.get(Experiment, ids[0])
        assert paused is not None
        paused.schedule_paused, paused.next_run_at = True, None
    html = await page(client, "/")
    assert html.count('<td data-label="Experiment">') == PAGE_SIZE
    newest = _row(html, ids[-1])
    assert "queued" in newest and "No answers yet" in newest and "Runs once" in newest
    older = re.search(r'href="(/\?cursor=[^"]+)"', html)
    assert older is not None
    second = await page(client, older.group(1).replace("&amp;", "&"))
    assert second.count('<td data-label="Experiment">') == 1
    row = _row(second, ids[0])
    assert "0 9 * * 1" in row and "paused" in row
    assert ids[1] != ids[0] and str(ids[1]) in html + second
    scheduled = _row(html + second, ids[1])
    assert "next" in scheduled and "<time datetime=" in scheduled

    bad = await client.get("/?cursor=nonsense", headers=HTML)
    assert bad.status_code == 400


async def test_cost_this_month_sums_the_stored_costs_since_the_first(
    backend: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client)
    runtime = app_runtime(app)
    workspace_id = await personal_workspace(app, "ada@example.com")
    async with transaction(runtime.session_factory) as session:
        created = await experiment_service.create(
            session,
            experiment_input(providers=["demo", "demo:other"]),
            chunk_size=10,
            workspace_id=workspace_id,
        )
        batches = list(
            await session.scalars(select(BatchRun).where(BatchRun.experiment_id == created.id))
        )
        now = utcnow()
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        batches[0].cost_usd, batches[0].finished_at = Decimal("1.2345"), now
        batches[1].cost_usd, batches[1].finished_at = Decimal("5"), first - timedelta(seconds=1)
    html = await page(client, "/")
    spend = html[html.index("Cost this month") : html.index("</section>")]
    assert fmt.usd(Decimal("1.2345")) == "$1.23"
    assert "$1.23" in spend and "$5" not in spend and "$6" not in spend
    assert "1 batch run finished since" in text_of(spend)

    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(BatchRun).where(BatchRun.id == batches[1].id).values(finished_at=now)
        )
    assert "$6.23" in await page(client, "/")


async def test_a_viewer_sees_no_demo_button_and_cannot_start_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, viewer = await team_with(app, client, Role.VIEWER)
    html = await page(viewer, "/")
    assert 'action="/demo"' not in html and "/experiments/new" not in html
    assert "read-only" in html
    assert (await post_form(viewer, "/demo")).status_code == 403
    async with transaction(app_runtime(app).session_factory) as session:
        assert (await session.scalar(select(ExperimentRound.id).limit(1))) is None


async def test_the_demo_needs_the_csrf_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sign_up(client)
    assert await without_csrf(client, "/demo") == 403
    async with transaction(app_runtime(app).session_factory) as session:
        assert (await session.scalar(select(Experiment.id).limit(1))) is None


def _trend_row(html: str, round_: int) -> str:
    """The experiment page's trend table row of a run."""
    trend = html.split('id="trend-heading"')[1].split("</section>")[0]
    found = re.search(rf'<tr><td data-label="Run">{round_}</td>.*?</tr>', trend, re.S)
    assert found, f"no trend row for run {round_}"
    return found.group(0)


def _change_cell(row: str) -> str:
    found = re.search(r'<td data-label="Change">(.*?)</td>', row, re.S)
    assert found, "no change cell"
    return " ".join(found.group(1).split())


async def test_the_overview_and_the_experiment_page_agree_on_what_changed(
    backend: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Runs 1 and 2 complete (every answer names the brand, then none): one significant
    drop, the same on the overview, the trend and the comparison. Run 3 is in progress,
    its pooled figure covering one provider of two (every answer names the brand again):
    the trend shows it without a change or a marker, the overview keeps run 2, and the
    comparison of runs 2 and 3 compares the finished provider but not the pooled figure."""
    await sign_up(client)
    runtime = app_runtime(app)
    workspace_id = await personal_workspace(app, "ada@example.com")
    async with transaction(runtime.session_factory) as session:
        created = (
            await experiment_service.queue(
                session,
                experiment_input(
                    iterations=30,
                    providers=["demo", "demo:other"],
                    demo_probabilities={"HubSpot": 1.0},
                ),
                workspace_id=workspace_id,
                actor=Actor.cli(),
                runtime=runtime,
            )
        ).experiment
    await _finished(app, created.id, 1)
    await _run_again(app, created.id, {"HubSpot": 0.0})
    await _run_again(app, created.id, {"HubSpot": 1.0})
    # Run 3 back in progress: "demo:other" has not finished; the round pools the other.
    async with transaction(runtime.session_factory) as session:
        await session.execute(
            update(BatchRun)
            .where(
                BatchRun.experiment_id == created.id,
                BatchRun.round == 3,
                BatchRun.model == "other",
            )
            .values(status=BatchStatus.RUNNING, metrics=None, finished_at=None)
        )
        stored = await run_service.store_round_metrics(session, created.id, 3)
        assert not stored.complete and stored.combined_providers == ["demo:demo-synthetic-1"]
        await session.execute(
            update(Experiment)
            .where(Experiment.id == created.id)
            .values(status=ExperimentStatus.RUNNING)
        )

    drop = fmt.signed_points(-1.0)
    overview_row = _row(await page(client, "/"), created.id)
    assert fmt.percent(0.0) in overview_row  # run 2, the latest complete run
    assert drop in overview_row and "marker-significant" in overview_row and "▼" in overview_row
    assert ">Visibility over the last 2 runs: 100.0%, 0.0%</title>" in overview_row

    html = await page(client, f"/experiments/{created.id}")
    second, third = _trend_row(html, 2), _trend_row(html, 3)
    assert drop in second and "marker-significant" in second
    overview_change = re.search(r'<td data-label="Change">(.*?)</td>', overview_row, re.S)
    assert overview_change is not None
    # The same change, drawn by the same macro.
    assert _change_cell(second) in " ".join(overview_change.group(1).split())
    assert "in progress" in third and fmt.percent(1.0) in third
    assert _change_cell(third) == '<span class="muted">–</span>'
    assert "significant" not in third
    data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    assert data is not None
    points = json.loads(data.group(1))["trend"]["points"]
    assert [p["significant"] for p in points] == [False, True, False]
    assert "significant-badge" not in html  # one marker, one CSS rule

    compare = await page(client, f"/experiments/{created.id}/compare?a=2&b=3")
    pooled = compare.split(">All providers</th>")[1].split("</tr>")[0]
    assert "significant" not in pooled and "–" in pooled
    finished = compare.split(">demo:demo-synthetic-1</th>")[1].split("</tr>")[0]
    assert "marker-significant" in finished and fmt.signed_points(1.0) in finished
    unfinished = compare.split(">demo:other</th>")[1].split("</tr>")[0]
    assert "significant" not in unfinished
