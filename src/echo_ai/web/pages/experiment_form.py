"""The new-experiment form (``/experiments/new``): what to ask, which brands to look for,
which providers, how many times, when to repeat; with a live estimate of the cost and of
the precision the iterations buy, and the next run times of the schedule.

Submitting queues the experiment with the use case the API calls
(:func:`echo_ai.experiments.service.queue`); the input is validated by the API's own
schema (:class:`~echo_ai.experiments.schemas.ExperimentCreate`), its messages shown
beside the fields. ``?from=<experiment id>`` fills the form with an experiment's
configuration ("edit and run as new").

Brands typed in place use the brand editor of every page
(:mod:`echo_ai.web.brand_fields`); its "Add another competitor" button posts the form
here with ``action=add_competitor``: the form comes back with everything typed and one
more empty competitor, and nothing is created.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis import sampling
from echo_ai.analysis.sampling import MAX_HALF_WIDTH, MIN_ANSWERS, MIN_HALF_WIDTH
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.billing.estimate import Estimate, estimate_with_history
from echo_ai.brands import service as brand_service
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.execution.providers import workspace_vendor_statuses
from echo_ai.experiments import planning
from echo_ai.experiments import service as experiments
from echo_ai.experiments.planning import PrecisionPlan
from echo_ai.experiments.schemas import MAX_ITERATIONS, ExperimentCreate
from echo_ai.providers.registry import VENDORS, ProviderSpec
from echo_ai.runs.adaptive import PrecisionMetric
from echo_ai.schedules import service as schedules
from echo_ai.schedules.service import SchedulePreview
from echo_ai.web.brand_fields import (
    ADD_COMPETITOR,
    EMPTY_COMPETITORS,
    NEW_FORM_COMPETITORS,
    BrandsForm,
    brands_input,
)
from echo_ai.web.format import local_time
from echo_ai.web.forms import FORM_ERROR, form_fields, form_lists, validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, Viewer, WriteViewer
from echo_ai.workspaces.quotas import PlanForbidsProvider, QuotaExceeded

router = APIRouter(include_in_schema=False)

REFUSED_FIELDS: dict[type[AppError], str] = {
    experiments.ProviderUnavailable: "providers",
    QuotaExceeded: "iterations",
    PlanForbidsProvider: "providers",
}
"""Where the form shows a refusal of the use case (others go above the form)."""

PRESETS = {"daily": "0 9 * * *", "weekly": "0 9 * * 1"}
"""Schedule presets: every day, every Monday, at 9:00 in the chosen time zone."""
SCHEDULE_CHOICES = ("none", "daily", "weekly", "custom")
DEFAULT_ITERATIONS = 50
PREVIEW_URL = "/experiments/new/schedule-preview"
MAX_PROFILES = 200
"""Brand profiles offered in the form's list (newest first)."""


@dataclass
class ExperimentFields:
    """The form as typed: shown again as it was when something is wrong."""

    name: str = ""
    prompt: str = ""
    persona: str = ""
    brand_profile_id: str = ""
    brands: BrandsForm = field(default_factory=BrandsForm)
    """The brands typed in place (ignored when a brand profile is chosen)."""
    providers: list[str] = field(default_factory=lambda: ["demo"])
    """The vendors ticked."""
    models: dict[str, str] = field(default_factory=dict)
    """Per vendor, the model(s) typed, separated by commas (blank: its default model)."""
    iterations: str = str(DEFAULT_ITERATIONS)
    sampling: str = "fixed"
    """``fixed`` (every iteration asked) or ``adaptive`` (until the precision is reached)."""
    precision_points: str = "5"
    precision_metric: str = PrecisionMetric.VISIBILITY.value
    min_answers: str = str(MIN_ANSWERS)
    temperature: str = "1.0"
    grounding: bool = False
    require_grounding: bool = False
    country: str = ""
    region: str = ""
    city: str = ""
    schedule: str = "none"
    cron: str = ""
    timezone: str = "UTC"

    @classmethod
    def from_form(
        cls, form: dict[str, str], providers: list[str], timezone: str
    ) -> ExperimentFields:
        schedule = form.get("schedule", "none")
        return cls(
            name=form.get("name", ""),
            prompt=form.get("prompt", ""),
            persona=form.get("persona", ""),
            brand_profile_id=form.get("brand_profile_id", ""),
            brands=BrandsForm.read(form),
            providers=[vendor for vendor in providers if vendor in VENDORS],
            models={
                vendor: form.get(f"model_{vendor}", "")
                for vendor in VENDORS
                if form.get(f"model_{vendor}", "").strip()
            },
            iterations=form.get("iterations", ""),
            sampling="adaptive" if form.get("sampling") == "adaptive" else "fixed",
            precision_points=form.get("precision_points", "5"),
            precision_metric=form.get("precision_metric", PrecisionMetric.VISIBILITY.value),
            min_answers=form.get("min_answers", str(MIN_ANSWERS)),
            temperature=form.get("temperature", ""),
            grounding=form.get("grounding") == "on",
            require_grounding=form.get("require_grounding") == "on",
            country=form.get("country", ""),
            region=form.get("region", ""),
            city=form.get("city", ""),
            schedule=schedule if schedule in SCHEDULE_CHOICES else "none",
            cron=form.get("cron", ""),
            timezone=form.get("timezone", "").strip() or timezone,
        )

    @classmethod
    def of(cls, data: ExperimentCreate, timezone: str) -> ExperimentFields:
        """An experiment's configuration (``rerun_input``) as the form shows it."""
        vendors: dict[str, list[str]] = {}
        for spec in data.provider_specs:
            vendors.setdefault(spec.vendor, []).append(spec.model)
        location = data.user_location
        precision = data.precision
        return cls(
            name=data.name or "",
            prompt=data.prompt,
            persona=data.persona or "",
            brands=BrandsForm.of(data.brands) if data.brands else BrandsForm(),
            providers=list(vendors),
            models={
                vendor: ", ".join(models)
                for vendor, models in vendors.items()
                if models != [VENDORS[vendor].default_model]
            },
            iterations=str(data.iterations),
            sampling="fixed" if precision is None else "adaptive",
            precision_points="5" if precision is None else f"{precision.half_width * 100:g}",
            precision_metric=(precision.metric if precision else PrecisionMetric.VISIBILITY).value,
            min_answers=str(precision.min_answers if precision else MIN_ANSWERS),
            temperature=str(data.temperature),
            grounding=data.grounding,
            require_grounding=data.require_grounding,
            country=(location.country or "") if location else "",
            region=(location.region or "") if location else "",
            city=(location.city or "") if location else "",
            timezone=timezone,
        )

    def provider_specs(self) -> list[str]:
        """``vendor`` (its default model) or ``vendor:model`` for each model typed."""
        specs: list[str] = []
        for vendor in self.providers:
            models = [m.strip() for m in self.models.get(vendor, "").split(",") if m.strip()]
            specs.extend([f"{vendor}:{model}" for model in models] or [vendor])
        return specs

    def schedule_cron(self) -> str | None:
        if self.schedule == "custom":
            return self.cron
        return PRESETS.get(self.schedule)


def iterations_of(text: str) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if 1 <= value <= MAX_ITERATIONS else None


ITERATIONS_MESSAGE = f"Enter a whole number from 1 to {MAX_ITERATIONS:,}."


def experiment_input(values: ExperimentFields) -> tuple[dict[str, Any], dict[str, str]]:
    """The input of :class:`ExperimentCreate` from the form, and what could not even be
    read as one (a number that is not a number, no brand at all)."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "name": values.name.strip() or None,
        "prompt": values.prompt,
        "persona": values.persona,
        "providers": values.provider_specs(),
        "grounding": values.grounding,
        "require_grounding": values.require_grounding,
    }
    try:
        data["iterations"] = int(values.iterations.strip())
    except ValueError:
        errors["iterations"] = ITERATIONS_MESSAGE
    if values.sampling == "adaptive":
        precision, precision_errors = precision_input(values)
        data["precision"] = precision
        errors.update(precision_errors)
    try:
        data["temperature"] = float(values.temperature.strip())
    except ValueError:
        errors["temperature"] = "Enter a number from 0 to 2, e.g. 1.0."
    if not values.providers:
        errors["providers"] = "Choose at least one provider."
    brands, brand_errors = brands_input(values.brand_profile_id, values.brands)
    data.update(brands)
    errors.update(brand_errors)
    location = {
        "country": values.country.strip().upper() or None,
        "region": values.region.strip() or None,
        "city": values.city.strip() or None,
    }
    if any(location.values()):
        data["user_location"] = location
    cron = values.schedule_cron()
    if cron is not None:
        data["schedule"] = {"cron": cron, "timezone": values.timezone.strip()}
    return data, errors


def precision_input(values: ExperimentFields) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``precision`` input from the form's adaptive-sampling fields (points, not a
    fraction), and what could not be read."""
    precision: dict[str, Any] = {"metric": values.precision_metric}
    errors: dict[str, str] = {}
    try:
        precision["half_width"] = float(values.precision_points.strip()) / 100
    except ValueError:
        errors["precision_points"] = PRECISION_MESSAGE
    try:
        precision["min_answers"] = int(values.min_answers.strip())
    except ValueError:
        errors["min_answers"] = f"Enter a whole number from {MIN_ANSWERS} up."
    return precision, errors


PRECISION_MESSAGE = (
    f"Enter the points, from {MIN_HALF_WIDTH * 100:g} to {MAX_HALF_WIDTH * 100:g}, e.g. 5."
)
PRECISION_FIELDS = {
    "half_width": "precision_points",
    "metric": "precision_metric",
    "min_answers": "min_answers",
}
"""The form field of each ``precision`` input."""


def form_field(dotted: str) -> str:
    """The form field beside which a schema error (``schedule.cron``) goes; those of the
    brands are placed by :meth:`BrandsForm.errors`."""
    parts = dotted.split(".") if dotted and dotted != FORM_ERROR else []
    if not parts:
        return FORM_ERROR
    head, rest = parts[0], parts[1:]
    if head == "user_location":
        return rest[0] if rest else "country"
    if head == "schedule":
        return rest[0] if rest else "cron"
    if head == "precision":
        return PRECISION_FIELDS.get(rest[0], "precision_points") if rest else "precision_points"
    return head


def validate_experiment(values: ExperimentFields) -> ExperimentCreate | dict[str, str]:
    data, errors = experiment_input(values)
    checked = validate(ExperimentCreate, data)
    if isinstance(checked, ExperimentCreate) and not errors:
        return checked
    schema_errors = checked if isinstance(checked, dict) else {}
    for key, message in values.brands.errors(schema_errors, within="brands").items():
        if key == "precision.half_width":  # the schema's fraction, typed as points here
            message = PRECISION_MESSAGE
        errors.setdefault(key if values.brands.is_input(key) else form_field(key), message)
    return errors


async def estimate_of(
    session: AsyncSession, values: ExperimentFields, workspace_id: uuid.UUID
) -> tuple[Estimate | None, str | None]:
    """The estimate of what the form holds (each model priced on its typical answer in the
    workspace's recent runs, else on an assumed one), or why there is none yet."""
    iterations = iterations_of(values.iterations)
    if iterations is None:
        return None, f"Enter from 1 to {MAX_ITERATIONS:,} iterations to see the estimate."
    specs: list[ProviderSpec] = []
    for text in values.provider_specs():
        try:
            specs.append(ProviderSpec.parse(text))
        except ValueError:
            continue  # shown beside the field on submit
    if not specs:
        return None, "Choose a provider to see the estimate."
    estimated = await estimate_with_history(
        session,
        values.prompt,
        specs,
        iterations,
        grounding=values.grounding,
        workspace_id=workspace_id,
    )
    return estimated, None


@dataclass(frozen=True)
class SamplePlan:
    """The planner beside the estimate: what the answers asked buy, in the worst case
    (a rate of one half)."""

    detectable: float | None
    """The change from 50% between two runs seen 80% of the time (None: none is)."""
    answers: float
    """Answers per provider the change figure assumes (adaptive: the mean expected)."""
    adaptive: PrecisionPlan | None = None
    """The adaptive plan (fixed count for the same precision, mean asked, share reaching
    the target within the maximum)."""


def sample_plan(values: ExperimentFields) -> tuple[SamplePlan | None, str | None]:
    """The planner's figures for the form as typed, or why there are none."""
    iterations = iterations_of(values.iterations)
    if iterations is None:
        return None, None
    if values.sampling != "adaptive":
        return SamplePlan(
            detectable=sampling.detectable_change(iterations), answers=iterations
        ), None
    precision, errors = precision_input(values)
    half_width = precision.get("half_width")
    if errors or half_width is None or not MIN_HALF_WIDTH <= half_width <= MAX_HALF_WIDTH:
        return None, errors.get("min_answers", PRECISION_MESSAGE)
    if not MIN_ANSWERS <= precision["min_answers"] <= iterations:
        return None, (
            f"The minimum ({precision['min_answers']:,}) must be at least {MIN_ANSWERS} and "
            f"at most the iterations ({iterations:,})."
        )
    try:
        planned = planning.plan(
            half_width=precision["half_width"],
            max_answers=iterations,
            min_answers=precision["min_answers"],
        ).precision
    except AppError as error:
        return None, error.message
    assert planned is not None
    expected = max(1, round(planned.adaptive_answers))
    return (
        SamplePlan(
            detectable=sampling.detectable_change(expected), answers=expected, adaptive=planned
        ),
        None,
    )


def preview_of(values: ExperimentFields) -> SchedulePreview | None:
    cron = values.schedule_cron()
    if cron is None:
        return None
    return schedules.preview(cron, values.timezone.strip(), now=utcnow())


@cache
def time_zones() -> list[str]:
    """IANA zone names for the time zone field's suggestions."""
    return sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")


def schedule_context(values: ExperimentFields, errors: dict[str, str]) -> dict[str, Any]:
    """What ``form_schedule.html`` needs (the new form and the schedule page)."""
    return {
        "values": values,
        "errors": errors,
        "presets": PRESETS,
        "time_zones": time_zones(),
        **preview_context(values),
    }


def preview_context(values: ExperimentFields) -> dict[str, Any]:
    """The schedule preview fragment's context: the preview and its times as shown (in
    the schedule's own time zone)."""
    preview = preview_of(values)
    shown: list[tuple[Any, str]] = []
    if preview is not None and preview.schedule is not None:
        zone = ZoneInfo(preview.schedule.timezone)
        shown = [(moment, local_time(moment, zone)) for moment in preview.times]
    return {"preview": preview, "run_times": shown}


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    values: ExperimentFields,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    source: uuid.UUID | None = None,
    brands_open: bool = False,
) -> Response:
    errors = dict(errors or {})
    profiles = await brand_service.list_page(session, viewer.workspace_id, limit=MAX_PROFILES)
    brands_open = brands_open or not values.brands.blank or values.brands.has_errors(errors)
    values.brands.padded(1)
    statuses = await workspace_vendor_statuses(session, state.settings, viewer.workspace_id)
    estimated, estimate_note = await estimate_of(session, values, viewer.workspace_id)
    planned, plan_note = sample_plan(values)
    return render(
        request,
        "experiments/new.html",
        plan=planned,
        plan_note=plan_note,
        adaptive=values.sampling == "adaptive",
        precision_metrics=list(PrecisionMetric),
        status_code=status_code,
        viewer=viewer,
        form_error=errors.pop(FORM_ERROR, None),
        profiles=profiles,
        vendors=statuses,
        estimate=estimated,
        estimate_note=estimate_note,
        source=source,
        brands_open=brands_open,
        max_iterations=MAX_ITERATIONS,
        preview_url=PREVIEW_URL,
        **schedule_context(values, errors),
    )


@router.get("/experiments/new")
async def new_experiment(
    request: Request,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
    source: Annotated[uuid.UUID | None, Query(alias="from")] = None,
) -> Response:
    values = ExperimentFields(timezone=viewer.tz.key)
    errors: dict[str, str] = {}
    if source is not None:
        original = await experiments.get(session, source, workspace_id=viewer.workspace_id, runs=0)
        try:
            values = ExperimentFields.of(experiments.rerun_input(original), viewer.tz.key)
        except AppError as error:
            errors[FORM_ERROR] = error.message
    values.brands.padded(EMPTY_COMPETITORS if values.brands.competitors else NEW_FORM_COMPETITORS)
    return await _page(request, viewer, session, state, values, errors=errors, source=source)


@router.post("/experiments/new")
async def create_experiment(
    request: Request, viewer: WriteViewer, session: SessionDep, state: StateDep
) -> Response:
    form = await form_fields(request)
    lists = await form_lists(request, "providers")
    values = ExperimentFields.from_form(form, lists["providers"], viewer.tz.key)
    if form.get("action") == ADD_COMPETITOR:
        values.brands.with_empty_competitors()
        return await _page(request, viewer, session, state, values, brands_open=True)
    checked = validate_experiment(values)
    if isinstance(checked, dict):
        return await _page(request, viewer, session, state, values, errors=checked, status_code=422)
    try:
        queued = await experiments.queue(
            session,
            checked,
            workspace_id=viewer.workspace_id,
            actor=viewer.actor,
            runtime=state.runtime,
        )
    except AppError as error:
        field = next(
            (name for kind, name in REFUSED_FIELDS.items() if isinstance(error, kind)), FORM_ERROR
        )
        # A provider the server cannot call is a value of the form to change (422).
        unavailable = isinstance(error, experiments.ProviderUnavailable)
        return await _page(
            request,
            viewer,
            session,
            state,
            values,
            errors={field: error.message},
            status_code=422 if unavailable else error.status_code,
        )
    return see_other(request, f"/experiments/{queued.experiment.id}")


def _query_values(request: Request, viewer: Viewer) -> ExperimentFields:
    query = request.query_params
    form = dict(query.items())
    return ExperimentFields.from_form(form, query.getlist("providers"), viewer.tz.key)


@router.get("/experiments/new/estimate")
async def estimate_fragment(
    request: Request, viewer: CurrentViewer, session: SessionDep
) -> Response:
    """The estimate for the form's current providers, models, iterations and prompt
    (htmx swaps it in as they change)."""
    values = _query_values(request, viewer)
    estimated, note = await estimate_of(session, values, viewer.workspace_id)
    planned, plan_note = sample_plan(values)
    return render(
        request,
        "experiments/form_estimate.html",
        estimate=estimated,
        estimate_note=note,
        plan=planned,
        plan_note=plan_note,
        adaptive=values.sampling == "adaptive",
        max_iterations=MAX_ITERATIONS,
    )


@router.get(PREVIEW_URL)
async def schedule_preview_fragment(request: Request, viewer: CurrentViewer) -> Response:
    """The next run times of the schedule as typed, in its time zone, or why it is not
    valid (htmx swaps it in as the schedule changes)."""
    values = _query_values(request, viewer)
    return render(
        request,
        "experiments/form_schedule_preview.html",
        first_run_now=request.query_params.get("existing") != "1",
        **preview_context(values),
    )
