"""What goes in and out of an experiment's use cases: validated input (from the CLI, a TOML
file or the API) and the one output shape of the API and ``--json``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from echo_ai.analysis.brands import BrandSet, Name
from echo_ai.analysis.extraction import Extraction
from echo_ai.analysis.metrics import BatchMetrics
from echo_ai.providers.registry import MAX_SPEC_LENGTH, ProviderSpec
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentStatus, Iteration
from echo_ai.schedules.schemas import ScheduleIn, ScheduleOut, TimeZoneName
from echo_ai.text import MultiLine, SingleLine

MAX_ITERATIONS = 10_000
MAX_PROVIDERS = 10
MAX_PROMPT_LENGTH = 4_000
MAX_NAME_LENGTH = 200
MAX_PLACE_LENGTH = 100

Place = Annotated[str, SingleLine(max_length=MAX_PLACE_LENGTH)]


class UserLocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: Annotated[str, SingleLine(max_length=2), Field(pattern=r"^[A-Z]{2}$")] | None = None
    region: Place | None = None
    city: Place | None = None
    timezone: TimeZoneName | None = None


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, SingleLine(max_length=MAX_NAME_LENGTH)] | None = None
    prompt: Annotated[str, MultiLine(min_length=1, max_length=MAX_PROMPT_LENGTH)]
    brands: BrandSet | None = None
    """The brands to track; or give ``brand_profile_id`` to use a stored brand profile."""
    brand_profile_id: uuid.UUID | None = None
    """A brand profile of the workspace whose brands to track (copied: later edits of the
    profile do not change this experiment)."""
    providers: Annotated[
        list[Annotated[str, SingleLine(min_length=1, max_length=MAX_SPEC_LENGTH)]],
        Field(min_length=1, max_length=MAX_PROVIDERS),
    ] = ["demo"]
    """``vendor`` or ``vendor:model``, e.g. ``openai:gpt-4o-mini``."""
    iterations: Annotated[StrictInt, Field(ge=1, le=MAX_ITERATIONS)] = 50
    temperature: Annotated[StrictFloat, Field(ge=0.0, le=2.0)] = 1.0
    grounding: StrictBool = False
    require_grounding: StrictBool = False
    user_location: UserLocationIn | None = None
    demo_probabilities: Annotated[
        dict[Name, Annotated[StrictFloat, Field(ge=0.0, le=1.0)]] | None,
        Field(max_length=51),
    ] = None
    """For the offline demo provider: brand name -> chance an answer mentions it."""
    schedule: ScheduleIn | None = None
    """Run the experiment again at these times (it also runs once now)."""

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("prompt must not be blank")
        return value

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, values: list[str]) -> list[str]:
        specs = [str(ProviderSpec.parse(value)) for value in values]
        if len(set(specs)) != len(specs):
            raise ValueError("a provider is listed twice")
        return specs

    @model_validator(mode="after")
    def _brands_given_once(self) -> ExperimentCreate:
        if (self.brands is None) == (self.brand_profile_id is None):
            raise ValueError("give either brands or brand_profile_id")
        if self.brands is not None:
            check_demo_probabilities(self.demo_probabilities, self.brands)
        return self

    def with_brands(self, brands: BrandSet) -> ExperimentCreate:
        """This input with the brands of a brand profile (validated again)."""
        check_demo_probabilities(self.demo_probabilities, brands)
        return self.model_copy(update={"brands": brands})

    @property
    def provider_specs(self) -> list[ProviderSpec]:
        return [ProviderSpec.parse(value) for value in self.providers]

    @property
    def display_name(self) -> str:
        """The name given, or the prompt's start on one line (names are single-line)."""
        return self.name or " ".join(self.prompt.split())[:80]


def check_demo_probabilities(probabilities: dict[str, float] | None, brands: BrandSet) -> None:
    unknown = set(probabilities or {}) - set(brands.names)
    if unknown:
        raise ValueError(f"demo probabilities name untracked brands: {sorted(unknown)}")


# Output


@dataclass(frozen=True)
class ExperimentReport:
    experiment: Experiment
    batches: list[tuple[BatchRun, BatchMetrics | None]]
    """The batches of the latest run, with their metrics once finished."""
    combined: BatchMetrics | None
    """The latest run's finished batches pooled at the iteration level, as stored when the
    last of them finished (None until one has)."""
    combined_providers: list[str]
    """The providers (``vendor:model``) whose batches ``combined`` includes."""
    combined_partial: bool
    """Some batch of the latest run has not finished: ``combined`` leaves it out."""
    earlier: list[tuple[BatchRun, BatchMetrics | None]]
    """The batches of earlier runs (a recurring experiment's history), newest first."""

    @property
    def failed_providers(self) -> list[str]:
        """The providers (``vendor:model``) whose batch of the latest run failed."""
        return run_service.failed_providers(batch for batch, _ in self.batches)

    @property
    def synthetic(self) -> bool:
        return any(batch.synthetic for batch, _ in self.batches)


@dataclass(frozen=True, slots=True)
class StoredIteration:
    """An iteration's columns as read for an export (a plain value, not an ORM object)."""

    batch_run_id: uuid.UUID
    index: int
    success: bool
    answer: str | None
    answer_class: str | None
    stop_reason: str | None
    reasoning: str | None
    reasoning_tokens: int | None
    error_code: str | None
    error_message: str | None
    attempts: int
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    model_version: str | None
    searched: bool
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    search_queries: list[str]
    extraction: dict[str, Any] | None
    created_at: datetime


SYNTHETIC_NOTICE = "SYNTHETIC DATA: answers made up offline by the demo provider, not a real AI"


class BatchRunOut(BaseModel):
    id: uuid.UUID
    round: int
    """Which run of the experiment the batch belongs to (1 for the first)."""
    provider: str
    model: str
    status: BatchStatus
    synthetic: bool
    """Answers come from the offline demo provider, not a real assistant."""
    iterations_requested: int
    stored: int
    """Iterations stored so far (live while the batch runs)."""
    succeeded: int
    """Complete answers: the samples every rate counts."""
    failed: int
    """Calls that brought no answer."""
    truncated: int
    refused: int
    empty: int
    """Answers that came back (and were billed) but are not samples, by class: cut off by
    the output limit, declined, or with no text (docs/metrics.md, "Which iterations count")."""
    parameters: dict[str, Any] | None
    """The generation parameters actually sent to the vendor (the temperature used, the
    output limit...), from the batch's first answer; ``null`` until one came back."""
    error: str | None
    """Why the batch stopped, in a sentence (``null`` while it runs or once completed)."""
    error_code: str | None
    """The stable code of ``error`` (see docs/architecture.md, "Failures users see")."""
    started_at: datetime | None
    finished_at: datetime | None
    metrics: BatchMetrics | None
    metrics_history: list[dict[str, Any]]
    """Metrics before each re-scoring, with the brand revision they belonged to."""

    @classmethod
    def of(cls, batch: BatchRun, metrics: BatchMetrics | None) -> BatchRunOut:
        return cls(
            id=batch.id,
            round=batch.round,
            provider=batch.provider,
            model=batch.model,
            status=batch.status,
            synthetic=batch.synthetic,
            iterations_requested=batch.iterations_requested,
            stored=batch.stored,
            succeeded=batch.succeeded,
            failed=batch.failed,
            truncated=batch.truncated,
            refused=batch.refused,
            empty=batch.empty,
            parameters=batch.parameters,
            error=batch.error,
            error_code=batch.error_code,
            started_at=batch.started_at,
            finished_at=batch.finished_at,
            metrics=metrics,
            metrics_history=batch.metrics_history,
        )


class ExperimentOut(BaseModel):
    id: uuid.UUID
    name: str
    prompt: str
    status: ExperimentStatus
    """Of the latest run: ``queued``, ``running``, ``completed``, ``partial`` (finished, but
    the batches of ``failed_providers`` failed), ``failed`` or ``cancelled``."""
    failed_providers: list[str]
    """The providers (``vendor:model``) whose batch of the latest run failed (their
    ``error_code`` and ``error`` say why)."""
    synthetic: bool
    notice: str | None
    created_at: datetime
    brands: dict[str, Any]
    brands_revision: int
    iterations: int
    temperature: float
    grounding: bool
    require_grounding: bool
    brand_profile_id: uuid.UUID | None
    runs: int
    """How many times the experiment has run (more than once when it is scheduled)."""
    schedule: ScheduleOut | None
    providers: list[BatchRunOut]
    """The batch runs of the latest run, one per provider."""

    @classmethod
    def of(cls, experiment: Experiment, batches: list[BatchRunOut]) -> ExperimentOut:
        synthetic = any(batch.synthetic for batch in batches)
        return cls(
            id=experiment.id,
            name=experiment.name,
            prompt=experiment.prompt,
            status=experiment.status,
            failed_providers=run_service.failed_providers(batches),
            synthetic=synthetic,
            notice=SYNTHETIC_NOTICE if synthetic else None,
            created_at=experiment.created_at,
            brands=experiment.brands,
            brands_revision=experiment.brands_revision,
            iterations=experiment.iterations,
            temperature=experiment.temperature,
            grounding=experiment.grounding,
            require_grounding=experiment.require_grounding,
            brand_profile_id=experiment.brand_profile_id,
            runs=experiment.runs,
            schedule=ScheduleOut.of(experiment),
            providers=batches,
        )


class ExperimentDetail(ExperimentOut):
    combined: BatchMetrics | None
    """The latest run's providers pooled at the iteration level (None until a batch has
    finished). While the run goes on it covers only its finished batches: see
    ``combined_partial`` and ``combined_providers``."""
    combined_partial: bool
    """Some batch of the latest run is still queued or running, so ``combined`` leaves it
    out (its live counts are in ``providers``)."""
    combined_providers: list[str]
    """The providers (``vendor:model``) whose batches ``combined`` includes."""
    history: list[BatchRunOut]
    """The batch runs of earlier runs (up to 19), newest run first: metrics over time.
    ``GET /v1/experiments/{id}/runs`` pages through all of them."""

    @classmethod
    def of_report(cls, report: ExperimentReport) -> ExperimentDetail:
        batches = [BatchRunOut.of(batch, metrics) for batch, metrics in report.batches]
        base = ExperimentOut.of(report.experiment, batches)
        history = [BatchRunOut.of(batch, metrics) for batch, metrics in report.earlier]
        return cls(
            **dict(base),
            combined=report.combined,
            combined_partial=report.combined_partial,
            combined_providers=report.combined_providers,
            history=history,
        )


class MentionOut(BaseModel):
    brand: str
    term: str
    start: int
    end: int
    """Offsets into ``answer``: ``answer[start:end]`` is the matched text (to highlight)."""


class IterationOut(BaseModel):
    """One answer as the iterations listing, the JSON and the JSON Lines exports show it."""

    batch_run_id: uuid.UUID
    index: int
    success: bool
    """The vendor answered (whatever ``answer_class``); false: the call failed."""
    answer: str | None
    answer_class: str | None
    """``complete``, ``truncated``, ``refused`` or ``empty``; ``null`` when the call failed.
    Only complete answers count in the metrics."""
    stop_reason: str | None
    """The vendor's own word for why the answer ended (``length``, ``max_tokens``...)."""
    reasoning: str | None
    """Reasoning the vendor sent apart from the answer: shown, never scored."""
    reasoning_tokens: int | None
    """Of ``output_tokens``, those spent reasoning (where the vendor reports them)."""
    error_code: str | None
    error_message: str | None
    attempts: int
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    """``null`` means unknown (no price for the model), never free."""
    model_version: str | None
    searched: bool
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    search_queries: list[str]
    brands_in_order: list[str]
    mentions: list[MentionOut]
    absences: list[dict[str, Any]]
    created_at: datetime

    @classmethod
    def of(cls, iteration: Iteration | StoredIteration) -> IterationOut:
        extraction = Extraction.from_dict(iteration.extraction) if iteration.extraction else None
        return cls(
            batch_run_id=iteration.batch_run_id,
            index=iteration.index,
            success=iteration.success,
            answer=iteration.answer,
            answer_class=iteration.answer_class,
            stop_reason=iteration.stop_reason,
            reasoning=iteration.reasoning,
            reasoning_tokens=iteration.reasoning_tokens,
            error_code=iteration.error_code,
            error_message=iteration.error_message,
            attempts=iteration.attempts,
            latency_ms=iteration.latency_ms,
            input_tokens=iteration.input_tokens,
            output_tokens=iteration.output_tokens,
            cost_usd=iteration.cost_usd,
            model_version=iteration.model_version,
            searched=iteration.searched,
            citations=iteration.citations,
            sources=iteration.sources,
            search_queries=iteration.search_queries,
            brands_in_order=list(extraction.brands_in_order) if extraction else [],
            mentions=[
                MentionOut(brand=m.brand, term=m.term, start=m.start, end=m.end)
                for m in (extraction.mentions if extraction else ())
            ],
            absences=[
                {"brand": a.brand, "sentence": a.sentence, "start": a.start, "end": a.end}
                for a in (extraction.absences if extraction else ())
            ],
            created_at=iteration.created_at,
        )


class IterationExport(BaseModel):
    """The JSON export's document (streamed: this model only documents it)."""

    experiment_id: uuid.UUID
    items: list[IterationOut]


class RescoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brands: BrandSet | None = None
    """New brand definitions; omitted: re-score with the current ones."""
