"""The sentiment judge page of an experiment: choose a model and a run, see what judging
its stored answers would ask and cost, judge in the background, follow its progress and
stop it (docs/metrics.md, "Sentiment").

``GET /experiments/{id}/sentiment-judge[?provider=...&run=...]`` shows the form, the
estimate for the provider typed and the last judging (its fragment,
``/sentiment-judge/progress``, polled by htmx while it is queued or running). The POST
(CSRF, writers) calls the use case the API calls and comes back here; so does the stop.
A refusal (no key, the budget, a running experiment or judging, nothing to judge, a run
over the limit) comes back in the form with the reason.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.db import utcnow
from echo_ai.errors import AppError, NotFound
from echo_ai.execution.providers import workspace_vendor_statuses
from echo_ai.experiments import sentiment_judge
from echo_ai.experiments import service as experiments
from echo_ai.experiments.judge_schemas import JudgeEstimateOut, SentimentJudgeOut
from echo_ai.providers.registry import VENDORS
from echo_ai.runs.models import FINISHED_STATUSES, Experiment
from echo_ai.web.forms import form_fields
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, Viewer, WriteViewer

router = APIRouter(include_in_schema=False)

DEFAULT_JUDGE = "demo"


def _run(text: object) -> int | None:
    """The run asked for (blank: the latest); not a whole number from 1: refused."""
    value = str(text or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise AppError("the run is a whole number from 1")
    return int(value)


async def _last(session: SessionDep, experiment: Experiment) -> SentimentJudgeOut | None:
    try:
        return sentiment_judge.out_of(await sentiment_judge.latest(session, experiment.id))
    except NotFound:
        return None


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    experiment: Experiment,
    provider: str,
    run: object,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    estimate: JudgeEstimateOut | None = None
    try:
        spec = sentiment_judge.parse_provider(provider)
        estimate = await sentiment_judge.estimate(session, experiment, spec, run=_run(run))
    except AppError as refused:
        error = error or refused.message
    statuses = await workspace_vendor_statuses(session, state.runtime.settings, viewer.workspace_id)
    ready = [
        f"{status.vendor}:{VENDORS[status.vendor].default_model}"
        for status in statuses
        if status.ready and VENDORS[status.vendor].default_model
    ]
    judging = await _last(session, experiment)
    return render(
        request,
        "experiments/sentiment_judge.html",
        status_code=status_code,
        viewer=viewer,
        experiment=experiment,
        provider=provider,
        ready=ready,
        estimate=estimate,
        limit=sentiment_judge.MAX_JUDGED_ANSWERS,
        running=any(b.status not in FINISHED_STATUSES for b in experiment.batch_runs),
        busy=judging is not None and judging.status in ("queued", "running"),
        judging=judging,
        error=error,
    )


@router.get("/experiments/{experiment_id}/sentiment-judge")
async def judge_page(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """The judge form, with the estimate for the provider and run asked
    (``?provider=&run=``) and the last judging's progress."""
    experiment = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id)
    provider = request.query_params.get("provider", "").strip() or DEFAULT_JUDGE
    run = request.query_params.get("run")
    return await _page(request, viewer, session, state, experiment, provider, run)


@router.get("/experiments/{experiment_id}/sentiment-judge/progress")
async def judge_progress(
    request: Request, experiment_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    """The last judging's fragment htmx polls; once it has ended its markup no longer
    polls."""
    experiment = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id)
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/experiments/{experiment.id}/sentiment-judge", status_code=303)
    judging = sentiment_judge.out_of(await sentiment_judge.latest(session, experiment.id))
    return render(
        request,
        "experiments/sentiment_judge_progress.html",
        viewer=viewer,
        experiment=experiment,
        judging=judging,
    )


@router.post("/experiments/{experiment_id}/sentiment-judge")
async def judge(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Start judging the run sent with the provider sent, then show its progress."""
    form = await form_fields(request)
    provider = str(form.get("provider") or "").strip() or DEFAULT_JUDGE
    run = form.get("run")
    experiment = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id)
    try:
        spec = sentiment_judge.parse_provider(provider)
        await sentiment_judge.start(
            session,
            state.runtime,
            experiment,
            spec,
            actor=viewer.actor,
            now=utcnow(),
            run=_run(run),
            judge_later=state.jobs.judge_sentiment,
        )
    except AppError as refused:
        return await _page(
            request,
            viewer,
            session,
            state,
            experiment,
            provider,
            run,
            error=refused.message,
            status_code=refused.status_code,
        )
    return see_other(
        request, f"/experiments/{experiment_id}/sentiment-judge?provider={quote(provider)}"
    )


@router.post("/experiments/{experiment_id}/sentiment-judge/stop")
async def stop(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Ask the judging to stop (what was judged is kept), then show it."""
    await form_fields(request)
    experiment = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id)
    try:
        await sentiment_judge.request_stop(session, experiment, now=utcnow())
    except AppError as refused:
        return await _page(
            request,
            viewer,
            session,
            state,
            experiment,
            DEFAULT_JUDGE,
            None,
            error=refused.message,
            status_code=refused.status_code,
        )
    return see_other(request, f"/experiments/{experiment_id}/sentiment-judge")
