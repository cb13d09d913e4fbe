"""The sentiment judge page of an experiment: choose a model, see what judging its stored
answers would ask and cost, then judge (docs/metrics.md, "Sentiment").

``GET /experiments/{id}/sentiment-judge[?provider=...]`` shows the form and, for the
provider typed, the estimate; the POST (CSRF, writers) calls the use case the API calls
and goes back to the experiment's sentiment section. A refusal (no key, the budget, a
running experiment, nothing to judge) comes back in the form with the reason.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.execution.providers import workspace_vendor_statuses
from echo_ai.experiments import sentiment_judge
from echo_ai.experiments import service as experiments
from echo_ai.experiments.judge_schemas import JudgeEstimateOut
from echo_ai.providers.registry import VENDORS
from echo_ai.runs.models import FINISHED_STATUSES, Experiment
from echo_ai.web.forms import form_fields
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import Viewer, WriteViewer

router = APIRouter(include_in_schema=False)

DEFAULT_JUDGE = "demo"


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    experiment: Experiment,
    provider: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    estimate: JudgeEstimateOut | None = None
    try:
        spec = sentiment_judge.parse_provider(provider)
        estimate = await sentiment_judge.estimate(session, experiment, spec)
    except AppError as refused:
        error = error or refused.message
    statuses = await workspace_vendor_statuses(session, state.runtime.settings, viewer.workspace_id)
    ready = [
        f"{status.vendor}:{VENDORS[status.vendor].default_model}"
        for status in statuses
        if status.ready and VENDORS[status.vendor].default_model
    ]
    return render(
        request,
        "experiments/sentiment_judge.html",
        status_code=status_code,
        viewer=viewer,
        experiment=experiment,
        provider=provider,
        ready=ready,
        estimate=estimate,
        running=any(b.status not in FINISHED_STATUSES for b in experiment.batch_runs),
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
    """The judge form, with the estimate for the provider asked (``?provider=``)."""
    experiment = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id)
    provider = request.query_params.get("provider", "").strip() or DEFAULT_JUDGE
    return await _page(request, viewer, session, state, experiment, provider)


@router.post("/experiments/{experiment_id}/sentiment-judge")
async def judge(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Judge the stored answers with the provider sent, then show the experiment."""
    form = await form_fields(request)
    provider = str(form.get("provider") or "").strip() or DEFAULT_JUDGE
    experiment = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id)
    try:
        spec = sentiment_judge.parse_provider(provider)
        await sentiment_judge.judge(
            session, state.runtime, experiment, spec, actor=viewer.actor, now=utcnow()
        )
    except AppError as refused:
        return await _page(
            request,
            viewer,
            session,
            state,
            experiment,
            provider,
            error=refused.message,
            status_code=refused.status_code,
        )
    return see_other(request, f"/experiments/{experiment_id}#sentiment")
