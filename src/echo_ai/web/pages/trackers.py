"""Trackers: the list, a tracker's figures (overall, per topic, per prompt, over time, with
their chart and CSV download) and the new-tracker form (prompts pasted one a line as
``topic: question``, or a CSV file; the brands from a brand profile or typed in place with
the brand editor of every page, :mod:`echo_ai.web.brand_fields`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.brands import service as brand_service
from echo_ai.errors import AppError
from echo_ai.execution.providers import workspace_vendor_statuses
from echo_ai.experiments import prompt_files, tracker_export, trackers
from echo_ai.experiments.schemas import MAX_ITERATIONS
from echo_ai.experiments.tracker_schemas import (
    MAX_TRACKER_PROMPTS,
    CandidatesIn,
    CandidatesOut,
    TrackerCreate,
    TrackerDetail,
    TrackerFiguresOut,
)
from echo_ai.runs.models import Tracker
from echo_ai.web.brand_fields import (
    ADD_COMPETITOR,
    NEW_FORM_COMPETITORS,
    BrandsForm,
    brands_input,
)
from echo_ai.web.format import local_time
from echo_ai.web.forms import FORM_ERROR, form_fields, form_lists, validate
from echo_ai.web.pages.experiment_view import rate_data
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, Viewer, WriteViewer

router = APIRouter(include_in_schema=False)

MAX_PROFILES = 200


@dataclass
class TrackerFields:
    name: str = ""
    brand_profile_id: str = ""
    brands: BrandsForm = field(default_factory=BrandsForm)
    """The brands typed in place (ignored when a brand profile is chosen)."""
    providers: list[str] = field(default_factory=lambda: ["demo"])
    iterations: str = "20"
    prompts: str = ""
    category: str = ""
    candidate_provider: str = "demo"
    ticked: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, form: dict[str, str], lists: dict[str, list[str]]) -> TrackerFields:
        return cls(
            name=form.get("name", ""),
            brand_profile_id=form.get("brand_profile_id", ""),
            brands=BrandsForm.read(form),
            providers=lists["providers"],
            iterations=form.get("iterations", ""),
            prompts=form.get("prompts", ""),
            category=form.get("category", ""),
            candidate_provider=form.get("candidate_provider", "demo"),
            ticked=lists["candidates"],
        )

    def with_ticked(self) -> str:
        """The prompts typed, then the ticked candidates not already among them."""
        if not self.ticked:
            return self.prompts
        known = {
            " ".join(part.casefold().split())
            for line in self.prompts.splitlines()
            for part in (line, line.partition(":")[2])
        }
        extra = [c for c in self.ticked if " ".join(c.casefold().split()) not in known]
        return "\n".join([self.prompts.rstrip("\n"), *extra]).lstrip("\n")


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    values: TrackerFields,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    candidates: CandidatesOut | None = None,
    brands_open: bool = False,
) -> Response:
    errors = dict(errors or {})
    profiles = await brand_service.list_page(session, viewer.workspace_id, limit=MAX_PROFILES)
    brands_open = brands_open or not values.brands.blank or values.brands.has_errors(errors)
    values.brands.padded(1)
    statuses = await workspace_vendor_statuses(session, state.settings, viewer.workspace_id)
    return render(
        request,
        "trackers/new.html",
        status_code=status_code,
        viewer=viewer,
        values=values,
        errors=errors,
        error=errors.pop(FORM_ERROR, None),
        profiles=profiles,
        vendors=statuses,
        max_iterations=MAX_ITERATIONS,
        max_prompts=MAX_TRACKER_PROMPTS,
        candidates=candidates,
        brands_open=brands_open,
    )


@router.get("/trackers")
async def list_trackers(request: Request, viewer: CurrentViewer, session: SessionDep) -> Response:
    found = await trackers.list_all(session, viewer.workspace_id)
    return render(
        request,
        "trackers/list.html",
        viewer=viewer,
        trackers=found,
        notice="Tracker deleted." if request.query_params.get("deleted") else None,
    )


@router.get("/trackers/new")
async def new_tracker_page(
    request: Request, viewer: WriteViewer, session: SessionDep, state: StateDep
) -> Response:
    values = TrackerFields(brand_profile_id=request.query_params.get("brand_profile_id", ""))
    values.brands.padded(NEW_FORM_COMPETITORS)
    return await _page(request, viewer, session, state, values)


async def _uploaded(request: Request) -> bytes | None:
    form = await request.form()
    upload = form.get("prompts_file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    return await upload.read(prompt_files.MAX_FILE_BYTES + 1)


def _form_data(
    values: TrackerFields, prompts: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The input of :class:`TrackerCreate` from the form, and what could not even be read
    as one (no brand profile and no brand typed)."""
    brands, errors = brands_input(values.brand_profile_id, values.brands)
    data: dict[str, Any] = {
        "name": values.name.strip(),
        "prompts": prompts,
        "providers": values.providers,
        **brands,
    }
    try:
        data["iterations"] = int(values.iterations)
    except ValueError:
        data["iterations"] = values.iterations
    return data, errors


def _errors(
    values: TrackerFields, schema_errors: dict[str, str], errors: dict[str, str]
) -> dict[str, str]:
    """The form's own reading errors, then the schema's by input (the brands' beside the
    brand editor's inputs)."""
    shown = dict(errors)
    if errors:  # "neither brands nor a profile" is said beside the brand's name already
        schema_errors = {k: v for k, v in schema_errors.items() if k != FORM_ERROR}
    for key, message in values.brands.errors(schema_errors, within="brands").items():
        where = key if values.brands.is_input(key) else key.split(".")[0]
        shown.setdefault(where, message)
    return shown


@router.post("/trackers/new")
async def create_tracker(
    request: Request, viewer: WriteViewer, session: SessionDep, state: StateDep
) -> Response:
    form = await form_fields(request)
    values = TrackerFields.read(form, await form_lists(request, "providers", "candidates"))
    if form.get("action") == "suggest":
        return await _suggest(request, viewer, session, state, values)
    if form.get("action") == ADD_COMPETITOR:
        values.brands.with_empty_competitors()
        return await _page(request, viewer, session, state, values, brands_open=True)
    values.prompts = values.with_ticked()
    upload = await _uploaded(request)
    try:
        if upload is not None:
            parsed = prompt_files.from_csv(upload)
        else:
            parsed = prompt_files.from_lines(values.prompts)
    except AppError as error:
        where = "prompts_file" if upload is not None else "prompts"
        return await _page(
            request, viewer, session, state, values, errors={where: error.message}, status_code=422
        )
    if upload is not None:
        values.prompts = "\n".join(
            f"{p.topic}: {p.prompt}" if p.topic else p.prompt for p in parsed
        )
    data, read_errors = _form_data(values, [p.model_dump() for p in parsed])
    checked = validate(TrackerCreate, data)
    if isinstance(checked, dict) or read_errors:
        errors = _errors(values, checked if isinstance(checked, dict) else {}, read_errors)
        return await _page(request, viewer, session, state, values, errors=errors, status_code=422)
    try:
        tracker, _ = await trackers.create(
            session,
            checked,
            workspace_id=viewer.workspace_id,
            actor=viewer.actor,
            runtime=state.runtime,
        )
    except AppError as error:
        return await _page(
            request,
            viewer,
            session,
            state,
            values,
            errors={FORM_ERROR: error.message},
            status_code=error.status_code,
        )
    return see_other(request, f"/trackers/{tracker.id}")


async def _suggest(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    values: TrackerFields,
) -> Response:
    """The form again with candidate prompts to tick, or why there are none (htmx swaps in
    only their list, so the reason is said inside it, and with a 200 htmx swaps)."""
    brands, missing = brands_input(values.brand_profile_id, values.brands)
    data = validate(
        CandidatesIn,
        {
            **brands,
            "category": values.category.strip() or None,
            "provider": values.candidate_provider or "demo",
        },
    )
    if missing or isinstance(data, dict):
        why = "Choose a brand profile, or type your brand's name above, to suggest prompts for."
        if isinstance(data, dict) and "category" in data:
            why = f"Category: {data['category']}"
        elif isinstance(data, dict) and not missing:
            why = next(iter(_errors(values, data, {}).values()))
        return await _page(request, viewer, session, state, values, errors={"candidates": why})
    try:
        found = await trackers.candidates(session, viewer.workspace_id, data, runtime=state.runtime)
    except AppError as error:
        return await _page(
            request, viewer, session, state, values, errors={"candidates": error.message}
        )
    return await _page(request, viewer, session, state, values, candidates=found)


def _groups(detail: TrackerDetail) -> list[tuple[str, TrackerFiguresOut]]:
    return [("Overall", detail.overall)] + [
        (f"Topic: {group.topic}" if group.topic else "No topic", group) for group in detail.by_topic
    ]


def chart_data(detail: TrackerDetail, viewer: Viewer) -> dict[str, Any]:
    """What charts.js draws: visibility overall and per topic with their intervals over
    prompts, and overall visibility over time once the prompts have run more than once
    (the tables beside the charts show the same numbers)."""
    groups = _groups(detail)
    data: dict[str, Any] = {
        "groups": {
            "label": "Visibility",
            "labels": [label for label, _ in groups],
            "rates": [rate_data(group.visibility) for _, group in groups],
        }
    }
    if len(detail.over_time) > 1:
        data["trend"] = {
            "labels": [local_time(point.started_at, viewer.tz) for point in detail.over_time],
            "points": [
                {**(rate_data(point.visibility) or {}), "significant": False}
                for point in detail.over_time
            ],
        }
    return data


async def _tracker_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    tracker: Tracker,
    *,
    more: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    detail = await trackers.detail(session, tracker)
    running = any(p.run is None or p.status in ("queued", "running") for p in detail.prompt_results)
    return render(
        request,
        "trackers/detail.html",
        status_code=status_code,
        viewer=viewer,
        tracker=detail,
        groups=_groups(detail),
        charts=chart_data(detail, viewer),
        running=running,
        more=more,
        more_error=error,
        added=request.query_params.get("added"),
    )


@router.get("/trackers/{tracker_id}")
async def tracker_page(
    request: Request, tracker_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    tracker = await trackers.get(session, viewer.workspace_id, tracker_id)
    return await _tracker_page(request, viewer, session, tracker)


@router.get("/trackers/{tracker_id}/export.{fmt}")
async def export_tracker(
    tracker_id: uuid.UUID,
    fmt: tracker_export.Format,
    viewer: CurrentViewer,
    session: SessionDep,
) -> Response:
    """The page's figures as the API's export (CSV or JSON), a download."""
    tracker = await trackers.get(session, viewer.workspace_id, tracker_id)
    detail = await trackers.detail(session, tracker)
    return StreamingResponse(
        tracker_export.chunks(detail, fmt),
        media_type=fmt.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{tracker_export.filename(detail, fmt)}"'
        },
    )


@router.post("/trackers/{tracker_id}/prompts")
async def add_prompts(
    request: Request,
    tracker_id: uuid.UUID,
    viewer: WriteViewer,
    session: SessionDep,
    state: StateDep,
) -> Response:
    tracker = await trackers.get(session, viewer.workspace_id, tracker_id)
    text = (await form_fields(request)).get("prompts", "")
    try:
        prompts = prompt_files.from_lines(text)
        created = await trackers.add_prompts(
            session, tracker, prompts, actor=viewer.actor, runtime=state.runtime
        )
    except AppError as error:
        status = 422 if isinstance(error, prompt_files.BadPrompts) else error.status_code
        return await _tracker_page(
            request, viewer, session, tracker, more=text, error=error.message, status_code=status
        )
    return see_other(request, f"/trackers/{tracker.id}?added={len(created)}")


@router.get("/trackers/{tracker_id}/delete")
async def delete_tracker_page(
    request: Request, tracker_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    tracker = await trackers.get(session, viewer.workspace_id, tracker_id)
    experiments = await trackers.experiments_of(session, tracker)
    return render(
        request, "trackers/delete.html", viewer=viewer, tracker=tracker, prompts=len(experiments)
    )


@router.post("/trackers/{tracker_id}/delete")
async def delete_tracker(
    request: Request, tracker_id: uuid.UUID, viewer: WriteViewer, session: SessionDep
) -> Response:
    tracker = await trackers.get(session, viewer.workspace_id, tracker_id)
    await trackers.delete(session, tracker, actor=viewer.actor)
    return see_other(request, "/trackers?deleted=1")
