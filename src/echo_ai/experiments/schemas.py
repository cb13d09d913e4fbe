"""What goes in and out of an experiment's use cases: validated input (from the CLI, a TOML
file or the API) and the one output shape of the API and ``--json``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from echo_ai.analysis.brands import MAX_ALIASES, BrandSet, Name, Term
from echo_ai.analysis.extraction import Extraction
from echo_ai.analysis.metrics import BatchMetrics, Combination, EqualWeight, Rate
from echo_ai.analysis.sampling import MAX_HALF_WIDTH, MIN_ANSWERS, MIN_HALF_WIDTH
from echo_ai.analysis.significance import (
    METHOD,
    ChangeTest,
    ChangeTests,
    ComparisonTests,
    Metric,
    RunSignificance,
)
from echo_ai.analysis.statistics import temperature_warning
from echo_ai.billing.spend_schemas import BudgetAmount
from echo_ai.experiments.judge_schemas import SentimentJudgeOut
from echo_ai.providers.capabilities import capabilities_for
from echo_ai.providers.registry import MAX_SPEC_LENGTH, ProviderSpec
from echo_ai.runs import service as run_service
from echo_ai.runs.adaptive import PrecisionMetric, Progress
from echo_ai.runs.models import BatchRun, BatchStatus, Experiment, ExperimentStatus, Iteration
from echo_ai.schedules.schemas import ScheduleIn, ScheduleOut, TimeZoneName
from echo_ai.text import MultiLine, SingleLine

MAX_ITERATIONS = 10_000
MAX_PROVIDERS = 10
MAX_PROMPT_LENGTH = 4_000
MAX_PERSONA_LENGTH = 1_000
MAX_NAME_LENGTH = 200
MAX_PLACE_LENGTH = 100

Place = Annotated[str, SingleLine(max_length=MAX_PLACE_LENGTH)]


def _prompt_not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("prompt must not be blank")
    return value


Prompt = Annotated[
    str,
    MultiLine(min_length=1, max_length=MAX_PROMPT_LENGTH),
    AfterValidator(_prompt_not_blank),
]
"""A question to ask: bounded, no control characters, not blank (kept stripped)."""


class UserLocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: Annotated[str, SingleLine(max_length=2), Field(pattern=r"^[A-Z]{2}$")] | None = None
    region: Place | None = None
    city: Place | None = None
    timezone: TimeZoneName | None = None


class PrecisionIn(BaseModel):
    """Adaptive sampling: ask each provider in rounds of 10 until the rate's 95% interval
    is at most ±``half_width``, from ``min_answers`` complete answers on, never more than
    the experiment's ``iterations`` (docs/metrics.md, "Adaptive sampling")."""

    model_config = ConfigDict(extra="forbid")

    metric: PrecisionMetric = PrecisionMetric.VISIBILITY
    """The target brand's rate whose interval decides: ``visibility``, ``top1``, ``top3``
    or ``citation_rate``."""
    half_width: Annotated[StrictFloat, Field(ge=MIN_HALF_WIDTH, le=MAX_HALF_WIDTH)]
    """The precision, as a fraction: 0.05 for ±5 points (from 0.001, ±0.1 points)."""
    min_answers: Annotated[StrictInt, Field(ge=MIN_ANSWERS, le=MAX_ITERATIONS)] = MIN_ANSWERS
    """Complete answers asked before the interval may stop the sampling."""

    def stored(self) -> dict[str, Any]:
        """What ``experiments.precision`` keeps."""
        return self.model_dump(mode="json")


class ExperimentSettings(BaseModel):
    """How an experiment asks (everything but its name and prompt): shared by a tracker's
    prompts (:class:`echo_ai.experiments.tracker_schemas.TrackerCreate`)."""

    model_config = ConfigDict(extra="forbid")

    persona: Annotated[str, MultiLine(max_length=MAX_PERSONA_LENGTH)] | None = None
    """Who asks, e.g. "I run a 10-person design agency in Lyon and we use Macs.": sent
    before the prompt as each vendor allows (a system or developer message); blank: none."""
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
    """Answers asked of each provider per run; with ``precision``, the most asked."""
    precision: PrecisionIn | None = None
    """Sample each provider until a rate is this precise instead of a fixed count."""
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
    budget_usd: BudgetAmount | None = None
    """The most this experiment's runs may cost per calendar month (UTC), in USD, as a
    decimal string (more than 0, at most 1000000, cents at most; the budget API's type),
    e.g. ``"25.00"``; unset: only the workspace's budget applies. A run whose estimated cost
    would take the month's spend past it is refused (402 ``budget_exhausted``), and a
    scheduled run is skipped."""

    @property
    def budget_amount(self) -> Decimal | None:
        """:attr:`budget_usd` as an amount."""
        return None if self.budget_usd is None else Decimal(self.budget_usd)

    @field_validator("persona")
    @classmethod
    def _persona_or_none(cls, value: str | None) -> str | None:
        """None for a persona with nothing visible in it (blank, or format characters
        such as a zero-width space only)."""
        value = (value or "").strip()
        visible = any(char.isprintable() and not char.isspace() for char in value)
        return value if visible else None

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, values: list[str]) -> list[str]:
        specs = [str(ProviderSpec.parse(value)) for value in values]
        if len(set(specs)) != len(specs):
            raise ValueError("a provider is listed twice")
        return specs

    @model_validator(mode="after")
    def _brands_given_once(self) -> Self:
        if (self.brands is None) == (self.brand_profile_id is None):
            raise ValueError("give either brands or brand_profile_id")
        if self.precision is not None and self.iterations < self.precision.min_answers:
            raise ValueError(
                f"iterations ({self.iterations}), the most asked with a precision, must be at "
                f"least its min_answers ({self.precision.min_answers})"
            )
        if self.brands is not None:
            check_demo_probabilities(self.demo_probabilities, self.brands)
        return self

    def with_brands(self, brands: BrandSet) -> Self:
        """This input with the brands of a brand profile (validated again)."""
        check_demo_probabilities(self.demo_probabilities, brands)
        return self.model_copy(update={"brands": brands})

    @property
    def provider_specs(self) -> list[ProviderSpec]:
        return [ProviderSpec.parse(value) for value in self.providers]


class ExperimentCreate(ExperimentSettings):
    name: Annotated[str, SingleLine(max_length=MAX_NAME_LENGTH)] | None = None
    prompt: Prompt

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
    combinations: list[Combination] = field(default_factory=list)
    """The latest run's combinations: real providers, then synthetic ones (each kind
    that ran; never pooled together). ``combined`` is the first one's pooled figures."""

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
    fee_usd: Decimal | None
    model_version: str | None
    searched: bool
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    search_queries: list[str]
    extraction: dict[str, Any] | None
    created_at: datetime
    redacted_at: datetime | None


class AdaptiveOut(BaseModel):
    """Where an adaptive batch stands: its target, the answers tallied, the interval now."""

    metric: PrecisionMetric
    half_width: float
    """The target, as a fraction (0.05: ±5 points)."""
    min_answers: int
    max_answers: int
    """The most calls planned (the experiment's ``iterations``)."""
    answers: int
    """Complete answers tallied at the looks so far (after each round of 10 calls)."""
    half_width_now: float | None
    """The rate's 95% interval half-width over them (``null`` before any)."""
    reached: bool
    """The target is reached (at least ``min_answers`` answers and narrow enough)."""
    stopped_early: bool
    """The batch stopped before ``max_answers``, its target reached."""
    summary: str
    """In words, e.g. ``visibility ±5 points: reached after 120 of at most 1,000 calls
    (±4.8 points over 118 complete answers)``."""

    @classmethod
    def of(cls, progress: Progress) -> AdaptiveOut:
        precision = progress.precision
        return cls(
            metric=precision.metric,
            half_width=precision.half_width,
            min_answers=precision.min_answers,
            max_answers=precision.max_answers,
            answers=progress.answers,
            half_width_now=progress.half_width,
            reached=progress.reached,
            stopped_early=progress.stopped_early,
            summary=progress.text,
        )


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
    """The iterations the batch runs; an adaptive batch's maximum until its precision is
    reached, then the iterations it asked."""
    adaptive: AdaptiveOut | None
    """Adaptive sampling's progress (``null`` for a fixed count)."""
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
            adaptive=None if (progress := Progress.of(batch)) is None else AdaptiveOut.of(progress),
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


class _Asked(Protocol):
    """A batch as far as the temperature goes (a stored batch or its API form)."""

    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def parameters(self) -> dict[str, Any] | None: ...


def temperatures_used(
    providers: Sequence[str], asked: float, batches: Sequence[_Asked] = ()
) -> dict[str, float | None]:
    """The temperature each provider (``vendor:model``) samples at: what its batch recorded
    once it answered, else what the model-capabilities table says the model does with
    ``asked`` (Anthropic, reasoning and search-preview models take none and sample at
    their default, 1.0)."""
    recorded: dict[str, float | None] = {}
    for batch in batches:
        value = (batch.parameters or {}).get("temperature_used")
        if isinstance(value, int | float):
            recorded[f"{batch.provider}:{batch.model}"] = float(value)
    used: dict[str, float | None] = {}
    for text in providers:
        try:
            spec = ProviderSpec.parse(text)
            vendor, model = spec.vendor, spec.model
        except ValueError:  # stored before a rule it breaks: read it, never fail the listing
            vendor, _, model = text.partition(":")
        name = f"{vendor}:{model}"
        if name in recorded:
            used[name] = recorded[name]
        else:
            used[name] = capabilities_for(vendor, model).temperature_used(asked)
    return used


def experiment_warnings(experiment: Experiment, batches: Sequence[_Asked] = ()) -> list[str]:
    """What the user should know before trusting the intervals: the providers that sample
    below 0.7 (from the latest run's ``batches`` when they have answered)."""
    used = temperatures_used(experiment.providers, experiment.temperature, batches)
    warning = temperature_warning(used)
    return [warning] if warning else []


class ExperimentOut(BaseModel):
    id: uuid.UUID
    name: str
    prompt: str
    persona: str | None
    """Who asks (sent before the prompt as a system or developer message); ``null``: none."""
    user_location: dict[str, Any] | None
    """Where it asks from (``country``, ``region``, ``city``, ``timezone``, as given), sent
    in each vendor's location field for web search; ``null``: nowhere given."""
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
    """Answers asked of each provider per run; with ``precision``, the most asked."""
    precision: PrecisionIn | None
    """Adaptive sampling's target (``null``: a fixed count of ``iterations``)."""
    temperature: float
    warnings: list[str]
    """Why the intervals may mislead, e.g. a temperature below 0.7 (answers repeat, so
    the intervals, which assume independent answers, are too narrow)."""
    grounding: bool
    require_grounding: bool
    brand_profile_id: uuid.UUID | None
    runs: int
    """How many times the experiment has run (more than once when it is scheduled)."""
    schedule: ScheduleOut | None
    providers: list[BatchRunOut]
    """The batch runs of the latest run, one per provider."""
    sentiment_judge: SentimentJudgeOut | None = None
    """The last judging of its answers' sentiment by a model (``null``: the lexicon
    scorer's only; ``POST /v1/experiments/{id}/sentiment-judge``)."""

    @classmethod
    def of(cls, experiment: Experiment, batches: list[BatchRunOut]) -> ExperimentOut:
        synthetic = any(batch.synthetic for batch in batches)
        return cls(
            id=experiment.id,
            name=experiment.name,
            prompt=experiment.prompt,
            persona=experiment.persona,
            user_location=experiment.user_location,
            status=experiment.status,
            failed_providers=run_service.failed_providers(batches),
            synthetic=synthetic,
            notice=SYNTHETIC_NOTICE if synthetic else None,
            created_at=experiment.created_at,
            brands=experiment.brands,
            brands_revision=experiment.brands_revision,
            iterations=experiment.iterations,
            precision=None
            if experiment.precision is None
            else PrecisionIn.model_validate(experiment.precision),
            temperature=experiment.temperature,
            warnings=experiment_warnings(experiment, batches),
            grounding=experiment.grounding,
            require_grounding=experiment.require_grounding,
            brand_profile_id=experiment.brand_profile_id,
            runs=experiment.runs,
            schedule=ScheduleOut.of(experiment),
            providers=batches,
            sentiment_judge=None
            if experiment.sentiment_judge is None
            else SentimentJudgeOut.model_validate(experiment.sentiment_judge),
        )


class ChangeTestOut(BaseModel):
    """One figure of two runs (or of a run and its baseline) and its test."""

    metric: Metric
    provider: str | None
    """``vendor:model``; ``null``: all providers pooled."""
    brand: str | None
    """The brand of a mention rate (the target's is ``visibility``)."""
    before: Rate | None
    after: Rate | None
    change_points: float | None
    """after − before in percentage points (``null`` when not tested)."""
    p_value: float | None
    q_value: float | None
    """The p-value adjusted (Benjamini–Hochberg) for the other tests of the comparison."""
    significant: bool
    """``q_value`` ≤ the comparison's ``fdr_level``."""
    note: str | None
    """Why the figure is not tested (``null`` when it is)."""
    synthetic: bool
    """A figure of the offline demo provider's answers: tested (and adjusted) in the
    synthetic family, apart from the real figures."""

    @classmethod
    def of(cls, test: ChangeTest) -> ChangeTestOut:
        points = test.points
        return cls(
            metric=test.figure.metric,
            provider=test.figure.provider,
            brand=test.figure.brand,
            before=test.before,
            after=test.after,
            change_points=None if points is None else round(points * 100, 10),
            p_value=test.p_value,
            q_value=test.q_value,
            significant=test.significant,
            note=test.reason,
            synthetic=test.synthetic,
        )


class ChangeFamilyOut(BaseModel):
    """The figures of a comparison tested together (real or synthetic), the false
    discovery rate controlled over them."""

    synthetic: bool
    notice: str | None
    """Set for the synthetic family: its figures are the demo provider's, not a real AI's."""
    tests_run: int
    """Figures tested (the family Benjamini–Hochberg adjusts over)."""
    significant: int
    statement: str
    """What was controlled, in a sentence: "14 tests, false discovery rate controlled at
    5% (Benjamini–Hochberg)"."""

    @classmethod
    def of(cls, family: ChangeTests) -> ChangeFamilyOut:
        return cls(
            synthetic=family.synthetic,
            notice=SYNTHETIC_NOTICE if family.synthetic else None,
            tests_run=family.tested,
            significant=len(family.significant),
            statement=family.statement,
        )


class ChangeTestsOut(BaseModel):
    """Every figure of one comparison tested: the real figures as one family, the
    synthetic (demo) ones as another, the false discovery rate of each controlled."""

    against: list[int]
    """The run(s) compared with: the previous run, the baseline's runs (pooled), or A."""
    method: str
    fdr_level: float
    synthetic: bool
    """Some figure is synthetic (the demo provider's): see ``families``."""
    notice: str | None
    tests_run: int
    """Figures tested, all families."""
    significant: int
    statement: str
    """What was controlled, family by family: "14 tests, false discovery rate controlled
    at 5% (Benjamini–Hochberg)"; a synthetic family's starts "synthetic (demo) figures"."""
    pooled_note: str | None
    """Why the pooled figures (``provider`` null) are not tested: the runs pool different
    providers (a provider failed in one of them, or was added)."""
    families: list[ChangeFamilyOut]
    """The real family, then the synthetic one (each when it has figures)."""
    tests: list[ChangeTestOut]
    """Every figure, real then synthetic (each test's ``synthetic`` says its family)."""

    @classmethod
    def of(cls, tests: ComparisonTests, against: list[int]) -> ChangeTestsOut:
        return cls(
            against=against,
            method=METHOD,
            fdr_level=tests.level,
            synthetic=tests.synthetic,
            notice=SYNTHETIC_NOTICE if tests.synthetic else None,
            tests_run=tests.tested,
            significant=len(tests.significant),
            statement=tests.statement,
            pooled_note=tests.pooled_note,
            families=[ChangeFamilyOut.of(family) for family in tests.families],
            tests=[ChangeTestOut.of(test) for test in tests.tests],
        )


class RunChangesOut(BaseModel):
    """A run tested against the previous complete run and against its baseline."""

    round: int
    complete: bool
    """Every batch of the run has finished (otherwise only its finished providers are
    tested)."""
    synthetic: bool
    """A run involved has answers of the offline demo provider."""
    baseline_runs: int
    """The baseline is the complete runs among this many previous runs, pooled."""
    note: str | None
    """Why the run is not (wholly) tested."""
    vs_previous: ChangeTestsOut | None
    vs_baseline: ChangeTestsOut | None

    @classmethod
    def of(cls, run: RunSignificance) -> RunChangesOut:
        previous = [run.previous] if run.previous is not None else []
        return cls(
            round=run.round,
            complete=run.complete,
            synthetic=run.synthetic,
            baseline_runs=run.baseline_runs,
            note=run.note,
            vs_previous=ChangeTestsOut.of(run.vs_previous, previous) if run.vs_previous else None,
            vs_baseline=(
                ChangeTestsOut.of(run.vs_baseline, run.baseline) if run.vs_baseline else None
            ),
        )


class RunComparisonOut(BaseModel):
    """Run ``a`` against run ``b``: every figure of both tested together."""

    a: int
    b: int
    synthetic: bool
    changes: ChangeTestsOut
    """Changes from A to B (``before`` is A)."""


class ComparedExperimentOut(BaseModel):
    """One side of an experiment comparison: how it asked, and which run is compared."""

    id: uuid.UUID
    name: str
    persona: str | None
    user_location: dict[str, Any] | None
    prompt: str
    run: int
    """Its latest run, the one compared."""
    complete: bool
    """Every batch of that run has finished (otherwise only its finished providers count)."""

    @classmethod
    def of(cls, experiment: Experiment, run: int, *, complete: bool) -> ComparedExperimentOut:
        return cls(
            id=experiment.id,
            name=experiment.name,
            persona=experiment.persona,
            user_location=experiment.user_location,
            prompt=experiment.prompt,
            run=run,
            complete=complete,
        )


class ExperimentComparisonOut(BaseModel):
    """Experiment A's latest run against experiment B's (e.g. two personas or two places
    asking the same question): every figure of both tested together."""

    a: ComparedExperimentOut
    b: ComparedExperimentOut
    differences: list[str]
    """How the two asked differently, e.g. ``persona: none → I run a design agency``."""
    synthetic: bool
    changes: ChangeTestsOut
    """Changes from A to B (``before`` is A; ``against`` is A's run)."""


class SideBySideCellOut(BaseModel):
    """One experiment's figure in a side-by-side table."""

    rate: Rate | None
    """``null``: the experiment has no such figure (e.g. it did not ask that provider)."""
    synthetic: bool
    versus_a: ChangeTestOut | None
    """The difference from experiment A's figure and its test (``before`` is A's);
    ``null`` in A's own column."""


class SideBySideRowOut(BaseModel):
    metric: Metric
    provider: str | None
    """``vendor:model``; ``null``: all providers pooled."""
    brand: str | None
    """The brand of a mention rate (the target's is ``visibility``)."""
    label: str
    cells: list[SideBySideCellOut]
    """One per experiment, in the order of ``experiments``."""


class SideBySideOut(BaseModel):
    """Several experiments' latest runs side by side (e.g. the same question asked as
    several personas or from several places): each figure of B, C, ... tested against A's,
    every test adjusted together (the false discovery rate controlled across all)."""

    experiments: list[ComparedExperimentOut]
    """A (the reference) first."""
    differences: list[list[str]]
    """For each experiment, how it asked differently from A (``persona: none → ...``);
    empty for A."""
    synthetic: bool
    method: str
    fdr_level: float
    statement: str
    tests_run: int
    significant: int
    rows: list[SideBySideRowOut]
    """Every figure (all providers pooled first, then each provider)."""


class CombinationOut(BaseModel):
    """One combination of the latest run's providers: the real ones or the synthetic
    (demo) ones, never both."""

    label: str
    """What it pools, as pages and the CLI title it: ``All providers`` (only real
    providers ran), ``Real providers`` (demo ran beside them, apart) or ``Synthetic
    (demo)``."""
    synthetic: bool
    partial: bool
    """Some provider of this kind has not finished: the figures leave it out."""
    providers: list[str]
    """The providers (``vendor:model``) combined."""
    missing: list[str]
    """The providers of this kind still queued or running (left out until they finish)."""
    pooled: BatchMetrics | None
    """Every complete answer counted once: a provider with more complete answers weighs
    more. None until one of ``providers`` has finished."""
    equal_weight: EqualWeight | None
    """Each provider counted once: the average of the per-provider rates with its
    interval (None for a single provider)."""

    @classmethod
    def of(cls, combination: Combination, *, both_kinds: bool) -> CombinationOut:
        return cls(
            label=combination_label(combination, both_kinds=both_kinds),
            synthetic=combination.synthetic,
            partial=combination.partial,
            providers=combination.providers,
            missing=combination.missing,
            pooled=combination.pooled,
            equal_weight=combination.equal_weight,
        )


def combination_label(combination: Combination, *, both_kinds: bool) -> str:
    if combination.synthetic:
        return "Synthetic (demo)"
    return "Real providers" if both_kinds else "All providers"


def combinations_out(combinations: list[Combination]) -> list[CombinationOut]:
    both_kinds = len(combinations) > 1
    return [CombinationOut.of(c, both_kinds=both_kinds) for c in combinations]


class ExperimentDetail(ExperimentOut):
    combined: BatchMetrics | None
    """The latest run's providers pooled at the iteration level (None until a batch has
    finished): the real providers' when any ran, else the demo's (never both; see
    ``combinations``). While the run goes on it covers only its finished batches: see
    ``combined_partial`` and ``combined_providers``."""
    combinations: list[CombinationOut]
    """Every combination of the latest run, labelled: real providers, then synthetic
    ones, each pooled and averaged with equal weights, marked partial (naming who is
    missing) while some of its providers run."""
    combined_partial: bool
    """Some batch of the latest run is still queued or running, so ``combined`` leaves it
    out (its live counts are in ``providers``)."""
    combined_providers: list[str]
    """The providers (``vendor:model``) whose batches ``combined`` includes."""
    history: list[BatchRunOut]
    """The batch runs of earlier runs (up to 19), newest run first: metrics over time.
    ``GET /v1/experiments/{id}/runs`` pages through all of them."""
    changes: RunChangesOut | None = None
    """The latest run tested against the previous run and its baseline
    (``GET /v1/experiments/{id}/changes`` has every run's)."""
    budget_usd: Decimal | None = None
    """The experiment's own monthly cap in USD (``null``: none)."""
    skipped_at: datetime | None = None
    """When the scheduler last skipped a run of this experiment (``null``: the latest
    scheduled run started)."""
    skip_reason: str | None = None
    """Why it was skipped: the quota or budget that refused it, with usage and limit."""

    @classmethod
    def of_report(
        cls, report: ExperimentReport, changes: RunSignificance | None = None
    ) -> ExperimentDetail:
        batches = [BatchRunOut.of(batch, metrics) for batch, metrics in report.batches]
        base = ExperimentOut.of(report.experiment, batches)
        history = [BatchRunOut.of(batch, metrics) for batch, metrics in report.earlier]
        return cls(
            **dict(base),
            combined=report.combined,
            combined_partial=report.combined_partial,
            combined_providers=report.combined_providers,
            combinations=combinations_out(report.combinations),
            history=history,
            changes=RunChangesOut.of(changes) if changes is not None else None,
            budget_usd=report.experiment.budget_usd,
            skipped_at=report.experiment.skipped_at,
            skip_reason=report.experiment.skip_reason,
        )


class MentionOut(BaseModel):
    brand: str
    term: str
    start: int
    end: int
    """Offsets into ``answer``: ``answer[start:end]`` is the matched text (to highlight)."""


class SentimentOut(BaseModel):
    """How the answer speaks of one brand it mentions (docs/metrics.md, "Sentiment")."""

    brand: str
    label: Literal["positive", "neutral", "negative"]
    score: float = Field(ge=-1, le=1)
    """From -1 (critical) to 1 (favourable)."""
    method: str | None
    """The scorer: ``lexicon-1`` (the local lexicon scorer) or a judge,
    ``judge:vendor:model`` (docs/metrics.md, "Sentiment")."""
    spans: list[tuple[int, int]]
    """Offsets into ``answer`` of the text scored (the sentences or clauses about it)."""


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
    """``null`` means unknown (no price for the model), never free. The vendor's own figure
    where its response reports one, else the price table's (docs/metrics.md, "Cost")."""
    fee_usd: Decimal | None
    """Of ``cost_usd``, the request and search fees; ``null`` when unknown."""
    model_version: str | None
    searched: bool
    citations: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    search_queries: list[str]
    brands_in_order: list[str]
    mentions: list[MentionOut]
    absences: list[dict[str, Any]]
    sentiment: list[SentimentOut] = []
    """Per brand mentioned, how the answer speaks of it; empty for an answer stored before
    sentiment was scored (a re-score fills it) or with no mention."""
    created_at: datetime
    redacted_at: datetime | None = None
    """When the retention policy redacted the answer and reasoning text (both ``null``
    since); the extracted facts, citations and figures stay. ``null``: not redacted."""

    @classmethod
    def of(cls, iteration: Iteration | StoredIteration) -> IterationOut:
        extraction = Extraction.from_dict(iteration.extraction) if iteration.extraction else None
        sentiment = extraction.sentiment if extraction else {}
        method = extraction.sentiment_method if extraction else None
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
            fee_usd=iteration.fee_usd,
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
            sentiment=[
                SentimentOut(
                    brand=brand,
                    label=found.label,
                    score=found.score,
                    method=found.scorer or method,
                    spans=list(found.spans),
                )
                for brand, found in sentiment.items()
            ],
            created_at=iteration.created_at,
            redacted_at=iteration.redacted_at,
        )


class IterationExport(BaseModel):
    """The JSON export's document (streamed: this model only documents it)."""

    experiment_id: uuid.UUID
    items: list[IterationOut]


class RescoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brands: BrandSet | None = None
    """New brand definitions; omitted: re-score with the current ones."""


class DiscoveredNameOut(BaseModel):
    """An untracked brand or product the answers name."""

    name: str
    """Its commonest spelling."""
    key: str
    """The spelling-independent key that merges spellings (case, accents, possessive,
    "Inc")."""
    spellings: list[str]
    mention_rate: Rate
    """Answers naming it over the complete answers examined, all providers of the run
    pooled, with the 95% Wilson interval."""
    per_provider: dict[str, Rate | None]
    """``vendor:model`` to its rate in that provider's answers (``null``: named there too
    rarely to be among that provider's 50 most frequent names)."""


class DiscoveredOut(BaseModel):
    """Who else gets recommended in one run: names not tracked by the experiment, found in
    list items, headings, bold text, table rows and recurring capitalised names, named in
    at least ``min_answers`` answers (see docs/metrics.md for the rules and their measured
    precision)."""

    experiment_id: uuid.UUID
    run: int
    synthetic: bool
    """The demo provider's answers: synthetic, not a real assistant's."""
    providers: list[str]
    answers: int
    """Complete answers examined: the denominator of every rate."""
    examined: bool
    """False when the run's answers were scored before names were looked for (re-score
    the experiment to find them)."""
    distinct: int
    """Distinct untracked names found, once or more."""
    min_answers: int
    names: list[DiscoveredNameOut]

    @classmethod
    def of(cls, report: Any, *, min_answers: int) -> DiscoveredOut:
        return cls(
            experiment_id=report.experiment_id,
            run=report.run,
            synthetic=report.synthetic,
            providers=report.providers,
            answers=report.answers,
            examined=report.examined,
            distinct=report.distinct,
            min_answers=min_answers,
            names=[
                DiscoveredNameOut(
                    name=row.name,
                    key=row.key,
                    spellings=list(row.spellings),
                    mention_rate=row.pooled,
                    per_provider=row.per_provider,
                )
                for row in report.rows
            ],
        )


class AddCompetitorIn(BaseModel):
    """A name to track as a competitor; every stored answer is then scored again."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    aliases: Annotated[list[Term] | None, Field(max_length=MAX_ALIASES)] = None
    """Other spellings to match; omitted: the spellings found in the answers."""
