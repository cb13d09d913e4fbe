"""The write actions of one experiment: cancel, re-run, resume, delete (after a
confirmation that names what goes), re-score with edited brands, add a discovered name as
a competitor (then a re-score), and its schedule (set, pause, resume, remove).

Each is a POST with the CSRF token, refused to read-only roles (:data:`WriteViewer`),
that calls the use case the API calls and answers ``303`` back to the experiment's page
(htmx requests get ``HX-Redirect`` to it). An experiment of another workspace is not
found. Refusals the use cases raise (a finished experiment cancelled, a running one
deleted...) are shown on the friendly error page, or in the form that was sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from echo_ai.analysis.brands import BrandSet
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.db import utcnow
from echo_ai.errors import Conflict
from echo_ai.experiments import discovered as discovery
from echo_ai.experiments import service as experiments
from echo_ai.experiments.schemas import AddCompetitorIn, RescoreIn
from echo_ai.runs.models import Experiment
from echo_ai.schedules import service as schedules
from echo_ai.schedules.schemas import ScheduleIn
from echo_ai.web.brand_fields import ADD_COMPETITOR, BrandsForm
from echo_ai.web.errors import error_page
from echo_ai.web.format import local_time
from echo_ai.web.forms import FORM_ERROR, form_fields, validate
from echo_ai.web.pages.experiment_form import (
    PRESETS,
    PREVIEW_URL,
    ExperimentFields,
    schedule_context,
)
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import Viewer, WriteViewer
from echo_ai.workspaces.quotas import QuotaExceeded

router = APIRouter(include_in_schema=False)


def _page_of(experiment_id: uuid.UUID) -> str:
    return f"/experiments/{experiment_id}"


async def _experiment(
    session: SessionDep, viewer: Viewer, experiment_id: uuid.UUID, *, runs: int | None = 0
) -> Experiment:
    return await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=runs
    )


# --- cancel, re-run, resume ------------------------------------------------------------


@router.post("/experiments/{experiment_id}/cancel")
async def cancel(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Stop a queued or running experiment (answers stored so far stay)."""
    experiment = await _experiment(session, viewer, experiment_id)
    await experiments.cancel(
        session, experiment, actor=viewer.actor, executor=state.runtime.executor
    )
    return see_other(request, _page_of(experiment_id))


@router.post("/experiments/{experiment_id}/rerun")
async def rerun(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Run the experiment's configuration again, as a new experiment (the API's re-run);
    its page is where this leads."""
    original = await _experiment(session, viewer, experiment_id)
    queued = await experiments.rerun(session, original, actor=viewer.actor, runtime=state.runtime)
    return see_other(request, _page_of(queued.experiment.id))


NOTHING_TO_RESUME = "the latest run is complete: there is nothing to resume"


@router.post("/experiments/{experiment_id}/resume")
async def resume(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    """Run what the latest run lacks (missing and failed iterations); refused while a
    process still runs it."""
    experiment = await _experiment(session, viewer, experiment_id)
    reopened = await experiments.resume(
        session, experiment, actor=viewer.actor, runtime=state.runtime
    )
    if not reopened:
        raise Conflict(NOTHING_TO_RESUME)
    return see_other(request, _page_of(experiment_id))


# --- delete ------------------------------------------------------------------------------


async def _delete_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    experiment: Experiment,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "experiments/delete.html",
        status_code=status_code,
        viewer=viewer,
        experiment=experiment,
        summary=await experiments.deletion_summary(session, experiment),
        error=error,
    )


@router.get("/experiments/{experiment_id}/delete")
async def delete_page(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    """The confirmation: what deleting removes (runs, stored answers, the schedule)."""
    experiment = await _experiment(session, viewer, experiment_id)
    return await _delete_page(request, viewer, session, experiment)


@router.post("/experiments/{experiment_id}/delete")
async def delete(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    experiment = await _experiment(session, viewer, experiment_id, runs=None)
    try:
        await experiments.delete(session, experiment, actor=viewer.actor)
    except Conflict as refused:
        return await _delete_page(
            request, viewer, session, experiment, error=refused.message, status_code=409
        )
    return see_other(request, "/")


# --- re-score ----------------------------------------------------------------------------


async def _rescore_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    experiment: Experiment,
    brands: BrandsForm | None = None,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    report = await experiments.report(session, experiment)
    errors = dict(errors or {})
    current = BrandSet.model_validate(experiment.brands)
    if brands is None:
        brands = BrandsForm.of(current).padded()
    else:
        brands.padded(1)
    return render(
        request,
        "experiments/rescore.html",
        status_code=status_code,
        viewer=viewer,
        experiment=experiment,
        report=report,
        brand_names=current.names,
        brands=brands,
        errors=errors,
        form_error=errors.pop(FORM_ERROR, None),
    )


@router.get("/experiments/{experiment_id}/rescore")
async def rescore_page(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    """The experiment's brands to edit, with the figures they give now."""
    experiment = await _experiment(session, viewer, experiment_id, runs=experiments.RECENT_RUNS)
    return await _rescore_page(request, viewer, session, experiment)


def rescore_input(brands: BrandsForm) -> RescoreIn | dict[str, str]:
    """The re-score input of the brand editor, or the errors beside its inputs."""
    checked = validate(RescoreIn, {"brands": brands.brand_set_input()})
    if isinstance(checked, RescoreIn):
        return checked
    return {
        key if brands.is_input(key) else FORM_ERROR: message
        for key, message in brands.errors(checked, within="brands").items()
    }


@router.post("/experiments/{experiment_id}/rescore")
async def rescore(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    """Score the stored answers again with the brands sent (no provider is called);
    "Add another competitor" shows the form again with one more."""
    form = await form_fields(request)
    brands = BrandsForm.read(form)
    experiment = await _experiment(session, viewer, experiment_id, runs=None)
    if form.get("action") == ADD_COMPETITOR:
        return await _rescore_page(
            request, viewer, session, experiment, brands.with_empty_competitors()
        )
    checked = rescore_input(brands)
    if isinstance(checked, dict):
        return await _rescore_page(
            request, viewer, session, experiment, brands, errors=checked, status_code=422
        )
    try:
        await experiments.rescore(session, experiment, actor=viewer.actor, brands=checked.brands)
    except Conflict as refused:
        return await _rescore_page(
            request,
            viewer,
            session,
            experiment,
            brands,
            errors={FORM_ERROR: refused.message},
            status_code=409,
        )
    return see_other(request, _page_of(experiment_id))


@router.post("/experiments/{experiment_id}/competitors")
async def add_competitor(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    """Track a name of "Also recommended" as a competitor and score the stored answers
    again (no provider is called); back to the experiment's page."""
    form = await form_fields(request)
    checked = validate(AddCompetitorIn, {"name": form.get("name", "").strip()})
    if not isinstance(checked, AddCompetitorIn):
        return error_page(request, 422, "Give the name of the brand to add as a competitor.")
    experiment = await _experiment(session, viewer, experiment_id, runs=None)
    await discovery.add_competitor(session, experiment, name=checked.name, actor=viewer.actor)
    return see_other(request, _page_of(experiment_id) + "#discovered")


# --- schedule ----------------------------------------------------------------------------


def _schedule_values(experiment: Experiment, viewer: Viewer) -> ExperimentFields:
    if experiment.schedule_cron is None:
        return ExperimentFields(schedule="daily", timezone=viewer.tz.key)
    preset = next(
        (name for name, cron in PRESETS.items() if cron == experiment.schedule_cron), None
    )
    return ExperimentFields(
        schedule=preset or "custom",
        cron="" if preset else experiment.schedule_cron,
        timezone=experiment.schedule_timezone,
    )


def _schedule_page(
    request: Request,
    viewer: Viewer,
    experiment: Experiment,
    values: ExperimentFields,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    errors = dict(errors or {})
    context: dict[str, Any] = schedule_context(values, errors)
    return render(
        request,
        "experiments/schedule.html",
        status_code=status_code,
        viewer=viewer,
        experiment=experiment,
        next_run=local_time(experiment.next_run_at, viewer.tz),
        form_error=errors.pop(FORM_ERROR, None),
        preview_url=f"{PREVIEW_URL}?existing=1",
        **context,
    )


@router.get("/experiments/{experiment_id}/schedule")
async def schedule_page(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    """The experiment's schedule to set or change, with the next five run times."""
    experiment = await _experiment(session, viewer, experiment_id)
    return _schedule_page(request, viewer, experiment, _schedule_values(experiment, viewer))


@router.post("/experiments/{experiment_id}/schedule")
async def set_schedule(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    form = await form_fields(request)
    values = ExperimentFields.from_form(form, [], viewer.tz.key)
    if values.schedule == "none":
        values.schedule = "custom"
    experiment = await _experiment(session, viewer, experiment_id)
    checked = validate(
        ScheduleIn, {"cron": values.schedule_cron() or "", "timezone": values.timezone}
    )
    if isinstance(checked, dict):
        errors = {
            ("cron" if key == FORM_ERROR else key): message for key, message in checked.items()
        }
        return _schedule_page(request, viewer, experiment, values, errors=errors, status_code=422)
    try:
        await schedules.set_schedule(
            session,
            viewer.workspace_id,
            experiment_id,
            checked,
            actor=viewer.actor,
            now=utcnow(),
            settings=state.settings,
        )
    except QuotaExceeded as refused:
        return _schedule_page(
            request,
            viewer,
            experiment,
            values,
            errors={"cron": refused.message},
            status_code=refused.status_code,
        )
    return see_other(request, _page_of(experiment_id))


@router.post("/experiments/{experiment_id}/schedule/pause")
async def pause_schedule(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    await schedules.pause(session, viewer.workspace_id, experiment_id, actor=viewer.actor)
    return see_other(request, _page_of(experiment_id))


@router.post("/experiments/{experiment_id}/schedule/resume")
async def resume_schedule(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    await schedules.resume(
        session, viewer.workspace_id, experiment_id, actor=viewer.actor, now=utcnow()
    )
    return see_other(request, _page_of(experiment_id))


@router.post("/experiments/{experiment_id}/schedule/remove")
async def remove_schedule(
    request: Request, experiment_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    await schedules.remove(session, viewer.workspace_id, experiment_id, actor=viewer.actor)
    return see_other(request, _page_of(experiment_id))
