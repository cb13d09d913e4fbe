"""Reading an experiment for its pages: the runs over time with how their figures moved
(the one rule the overview, the experiment's trend and the comparison of two runs share),
one run's batches, and its answers filtered and paged.

Readers never scan iterations without a bound: the runs' figures are the stored metrics
(batch rows and ``experiment_rounds``), and a filtered page of answers reads index ranges
of ``(batch_run_id, index)`` from the cursor on, at most :data:`SCAN_LIMIT` positions per
request, so its cost does not grow with the depth of the page nor with the size of the
run, however rare the answers it looks for.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.metrics import BatchMetrics, Rate
from echo_ai.analysis.significance import (
    BASELINE_RUNS,
    FDR_LEVEL,
    METHOD,
    ChangeTest,
    ComparisonTests,
    Figure,
    Metric,
    RunFigures,
    RunSignificance,
    adjust_together,
    compare_figures,
    compare_run_figures,
    figures_of,
    joint_statement,
    pool_runs,
    q_text,
)
from echo_ai.db import keyset_after
from echo_ai.errors import AppError, NotFound
from echo_ai.experiments.schemas import (
    ChangeTestOut,
    ChangeTestsOut,
    ComparedExperimentOut,
    ExperimentComparisonOut,
    SideBySideCellOut,
    SideBySideOut,
    SideBySideRowOut,
)
from echo_ai.experiments.service import RECENT_RUNS
from echo_ai.providers.base import NOT_SAMPLES, AnswerClass
from echo_ai.runs.models import (
    FINISHED_STATUSES,
    BatchRun,
    Experiment,
    ExperimentRound,
    ExperimentStatus,
    Iteration,
)
from echo_ai.runs.service import round_status

SCAN_LIMIT = 5_000
"""Iteration positions one filtered page looks through at most; when it finds fewer
answers than asked, the page says how far it looked and continues from there."""


async def rounds(
    session: AsyncSession, experiment_id: uuid.UUID, *, limit: int, before_round: int | None = None
) -> list[ExperimentRound]:
    """The stored runs (rounds) of the experiment with their combined metrics, newest
    first, ``limit`` at a time (keyset on the unique ``(experiment_id, round)``)."""
    query = (
        select(ExperimentRound)
        .where(ExperimentRound.experiment_id == experiment_id)
        .order_by(ExperimentRound.round.desc())
        .limit(limit)
    )
    if before_round is not None:
        query = query.where(
            keyset_after((ExperimentRound.round,), (before_round,), descending=True)
        )
    return list(await session.scalars(query))


async def round_batches(
    session: AsyncSession, experiment_id: uuid.UUID, rounds_: Sequence[int]
) -> list[BatchRun]:
    """The batch runs of these runs of the experiment, by run then as created."""
    if not rounds_:
        return []
    return list(
        await session.scalars(
            select(BatchRun)
            .where(BatchRun.experiment_id == experiment_id, BatchRun.round.in_(list(rounds_)))
            .order_by(BatchRun.round, BatchRun.created_at, BatchRun.id)
        )
    )


class Shown(enum.StrEnum):
    """Which answers a page lists."""

    ALL = "all"
    MENTIONED = "mentioned"
    """Complete answers (the samples) that name the target brand."""
    NOT_MENTIONED = "not-mentioned"
    """Complete answers that do not name it."""
    NOT_COUNTED = "not-counted"
    """Answers that came back but are not samples: truncated, refused or empty."""
    FAILED = "failed"
    POSITIVE = "positive"
    """Complete answers that speak of the target positively (its sentiment label)."""
    NEUTRAL = "neutral"
    NEGATIVE = "negative"

    @property
    def sentiment(self) -> str | None:
        """The sentiment label this filter selects (None: not a sentiment filter)."""
        return self.value if self in (Shown.POSITIVE, Shown.NEUTRAL, Shown.NEGATIVE) else None


@dataclass(frozen=True)
class AnswersPage:
    items: list[Iteration]
    after: tuple[uuid.UUID, int] | None
    """Where the next page starts (the last position looked at); None after the last."""
    exhausted_scan: bool
    """The page stopped at :data:`SCAN_LIMIT` positions with fewer answers than asked."""


def _mentions_target(dialect: str, target: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        found: ColumnElement[bool] = type_coerce(Iteration.extraction, JSONB)[
            "brands_in_order"
        ].contains([target])
        return found
    each = func.json_each(Iteration.extraction, "$.brands_in_order").table_valued("value")
    return exists().select_from(each).where(each.c.value == target)


def _target_sentiment(dialect: str, target: str, label: str) -> ColumnElement[bool]:
    """The answer's stored sentiment of the target has this label."""
    if dialect == "postgresql":
        found: ColumnElement[bool] = (
            type_coerce(Iteration.extraction, JSONB)["sentiment"][target]["label"].astext == label
        )
        return found
    each = func.json_each(Iteration.extraction, "$.sentiment").table_valued("key", "value")
    return (
        exists()
        .select_from(each)
        .where(each.c.key == target, func.json_extract(each.c.value, "$.label") == label)
    )


def _filter(dialect: str, shown: Shown, target: str) -> list[ColumnElement[bool]]:
    # The mention filters list the answers the rates count: complete ones only (a
    # truncated answer may name the target, yet it is in no denominator).
    # An answer stored without a class (by a worker older than classes, during an
    # upgrade) counts as complete, as in the metrics.
    answer_class = func.coalesce(Iteration.answer_class, AnswerClass.COMPLETE.value)
    complete = and_(Iteration.success.is_(True), answer_class == AnswerClass.COMPLETE.value)
    if shown is Shown.FAILED:
        return [Iteration.success.is_(False)]
    if shown is Shown.MENTIONED:
        return [complete, _mentions_target(dialect, target)]
    if shown is Shown.NOT_MENTIONED:
        return [complete, ~_mentions_target(dialect, target)]
    if shown.sentiment is not None:
        return [complete, _target_sentiment(dialect, target, shown.sentiment)]
    if shown is Shown.NOT_COUNTED:
        return [Iteration.success.is_(True), answer_class.in_([c.value for c in NOT_SAMPLES])]
    return []


async def answers_page(
    session: AsyncSession,
    batches: Sequence[BatchRun],
    *,
    target: str,
    shown: Shown = Shown.ALL,
    limit: int,
    after: tuple[uuid.UUID, int] | None = None,
    scan_limit: int = SCAN_LIMIT,
) -> AnswersPage:
    """Up to ``limit`` iterations of ``batches`` (in that order, then by index) that
    ``shown`` selects, after the position ``after`` (a batch of ``batches`` and an index).

    Each query reads one index range ``batch_run_id = b AND index > i AND index <= j`` of
    the unique ``(batch_run_id, index)`` index; indexes of a batch lie below its
    ``iterations_requested``, so the ranges end there.
    """
    dialect = session.get_bind().dialect.name
    conditions = _filter(dialect, shown, target)
    order = [batch.id for batch in batches]
    start, last = (0, -1) if after is None else (order.index(after[0]), after[1])
    items: list[Iteration] = []
    budget = scan_limit
    for batch in batches[start:]:
        while last + 1 < batch.iterations_requested:
            if budget <= 0:
                return AnswersPage(items, (batch.id, last), exhausted_scan=True)
            upper = min(last + budget, batch.iterations_requested - 1)
            found = list(
                await session.scalars(
                    select(Iteration)
                    .where(
                        Iteration.batch_run_id == batch.id,
                        Iteration.index > last,
                        Iteration.index <= upper,
                        *conditions,
                    )
                    .order_by(Iteration.index)
                    .limit(limit - len(items))
                )
            )
            items.extend(found)
            if len(items) == limit:
                return AnswersPage(items, (batch.id, items[-1].index), exhausted_scan=False)
            budget -= upper - last
            last = upper
        last = -1
    return AnswersPage(items, None, exhausted_scan=False)


async def experiment_round(
    session: AsyncSession, experiment: Experiment, round_: int
) -> ExperimentRound | None:
    """One stored run of the experiment (None if it has no such run)."""
    return await session.scalar(
        select(ExperimentRound).where(
            ExperimentRound.experiment_id == experiment.id, ExperimentRound.round == round_
        )
    )


# --- how figures move from run to run ---------------------------------------------------


def provider_label(batch: BatchRun) -> str:
    """``vendor:model``, as the API names a provider."""
    return f"{batch.provider}:{batch.model}"


def metrics_of(stored: dict[str, Any] | None) -> BatchMetrics | None:
    return BatchMetrics.model_validate(stored) if stored else None


@dataclass(frozen=True)
class RunFigure:
    """One figure of one run: the run's visibility (its providers pooled), a provider's,
    or a brand's mention rate."""

    round: int
    rate: Rate | None
    complete: bool
    """The figure is final: every batch it pools has finished. A run in progress pools
    only the providers done so far, so its figure is not comparable with a whole run's."""
    synthetic: bool = False
    """The figure comes (in part) from the offline demo provider's answers."""
    started: datetime | None = None

    @property
    def comparable(self) -> bool:
        """Complete, and computed from at least one answer."""
        return (
            self.complete
            and self.rate is not None
            and self.rate.value is not None
            and self.rate.denominator > 0
        )


@dataclass(frozen=True)
class Change:
    """How a figure moved from one complete run to another, and its test."""

    before: Rate
    after: Rate
    significant: bool
    """A change at the controlled false discovery rate (q ≤ 5%): see
    :mod:`echo_ai.analysis.significance` (a two-proportion test, Fisher's exact test for
    small counts, adjusted by Benjamini–Hochberg for the figures tested with it)."""
    p_value: float
    q_value: float
    """The p-value adjusted for the other figures of the same comparison (the p-value
    itself for a figure tested alone)."""

    @property
    def points(self) -> float:
        """The difference of the two rates (a fraction: 0.05 is 5 points)."""
        assert self.after.value is not None and self.before.value is not None
        return self.after.value - self.before.value

    @property
    def q_text(self) -> str:
        return q_text(self.q_value)

    @property
    def p_text(self) -> str:
        return q_text(self.p_value, "p")

    @classmethod
    def of(cls, test: ChangeTest | None) -> Change | None:
        """The change a test found (None for a figure not tested)."""
        if test is None or test.p_value is None or test.q_value is None:
            return None
        assert test.before is not None and test.after is not None
        return cls(test.before, test.after, test.significant, test.p_value, test.q_value)


@dataclass(frozen=True)
class RunChange:
    """A run's figure with its change from the previous complete run (None for the first
    complete run, and for a run that is not complete)."""

    run: RunFigure
    change: Change | None


_ALONE = Figure(None, Metric.VISIBILITY)


def run_changes(runs: Sequence[RunFigure]) -> list[RunChange]:
    """Each run in the order given (oldest first) with how its figure moved from the
    previous complete run: the one rule of the overview, the trend and the comparison.

    Only complete runs with a figure are compared: a run in progress keeps its place in
    the list, without a change or a significance marker, and is skipped as the run before.
    Each figure is tested alone (its q-value is its p-value).
    """
    changes: list[RunChange] = []
    previous: RunFigure | None = None
    for run in runs:
        change = None
        if run.comparable:
            if previous is not None:
                before, after = previous.rate, run.rate
                assert before is not None and after is not None
                tests = compare_figures({_ALONE: before}, {_ALONE: after})
                change = Change.of(tests.get(_ALONE))
            previous = run
        changes.append(RunChange(run, change))
    return changes


def latest_change(changes: Sequence[RunChange]) -> RunChange | None:
    """The newest complete run with its change (the newest run with a figure when none is
    complete yet)."""
    return next((c for c in reversed(changes) if c.run.comparable), None) or next(
        (c for c in reversed(changes) if c.run.rate is not None), None
    )


async def recent_runs(
    session: AsyncSession, experiment_ids: Sequence[uuid.UUID], *, runs: int = RECENT_RUNS
) -> dict[uuid.UUID, list[RunFigure]]:
    """The stored visibility of the last ``runs`` runs of each experiment, oldest first
    (runs without a figure yet are left out), labelled synthetic when no real provider ran.

    Two queries whatever the number of experiments: a range of the ``(experiment_id,
    round)`` unique index of ``experiment_rounds`` per experiment with only the stored
    ``visibility`` column selected (never the whole metrics document), and the runs with a
    real provider's batch.
    """
    if not experiment_ids:
        return {}
    ids = list(experiment_ids)
    rows = await session.execute(
        select(
            ExperimentRound.experiment_id,
            ExperimentRound.round,
            ExperimentRound.complete,
            ExperimentRound.created_at,
            ExperimentRound.visibility,
        )
        .join(Experiment, Experiment.id == ExperimentRound.experiment_id)
        .where(
            ExperimentRound.experiment_id.in_(ids),
            ExperimentRound.round > Experiment.runs - runs,
            ExperimentRound.visibility.is_not(None),
        )
        .order_by(ExperimentRound.experiment_id, ExperimentRound.round)
    )
    # The stored figure pools the real providers whenever one ran (the demo is combined
    # apart): it is synthetic only in a run with no real provider.
    real = {
        (experiment_id, round_)
        for experiment_id, round_ in await session.execute(
            select(BatchRun.experiment_id, BatchRun.round)
            .join(Experiment, Experiment.id == BatchRun.experiment_id)
            .where(
                BatchRun.experiment_id.in_(ids),
                BatchRun.round > Experiment.runs - runs,
                BatchRun.synthetic.is_(False),
            )
            .distinct()
        )
    }
    found: dict[uuid.UUID, list[RunFigure]] = {}
    for experiment_id, round_, complete, started, visibility in rows:
        if visibility is None:
            continue
        found.setdefault(experiment_id, []).append(
            RunFigure(
                round=round_,
                rate=Rate.model_validate(visibility),
                complete=complete,
                synthetic=(experiment_id, round_) not in real,
                started=started,
            )
        )
    return found


# --- the runs history and the comparison of two runs ------------------------------------


@dataclass(frozen=True)
class RunRow:
    """One run of the history with its figures."""

    round: int
    status: ExperimentStatus
    started: datetime
    finished: datetime | None
    combined: BatchMetrics | None
    complete: bool
    """Every batch of the run has finished: ``combined`` is final."""
    batches: list[tuple[BatchRun, BatchMetrics | None]]
    failed_providers: list[str]
    synthetic: bool
    """No real provider ran: the combined figure is synthetic."""

    @property
    def cost(self) -> Decimal | None:
        return self.combined.cost.total_usd if self.combined else None


def run_rows(rounds: Sequence[ExperimentRound], batches: Sequence[BatchRun]) -> list[RunRow]:
    """The rows of these stored runs, from their batches (as :func:`round_batches` reads
    them); each run's status by :func:`~echo_ai.runs.service.round_status`."""
    by_round: dict[int, list[BatchRun]] = {}
    for batch in batches:
        by_round.setdefault(batch.round, []).append(batch)
    rows = []
    for stored in rounds:
        mine = by_round.get(stored.round, [])
        ends = [b.finished_at for b in mine if b.finished_at is not None]
        rows.append(
            RunRow(
                round=stored.round,
                status=round_status(b.status for b in mine),
                started=min((b.created_at for b in mine), default=stored.created_at),
                finished=max(ends) if ends and len(ends) == len(mine) else None,
                combined=metrics_of(stored.combined),
                complete=stored.complete,
                batches=[(b, metrics_of(b.metrics)) for b in mine],
                failed_providers=list(stored.failed_providers),
                # Its combined figure is the real providers' when one ran.
                synthetic=bool(mine) and all(b.synthetic for b in mine),
            )
        )
    return rows


def pooled_providers(row: RunRow) -> frozenset[str]:
    """The providers the run's pooled figures pool: its finished real providers with a
    complete answer when a real one ran, else its demo ones (the demo is combined apart)."""
    real = any(not batch.synthetic for batch, _ in row.batches)
    return frozenset(
        provider_label(batch)
        for batch, metrics in row.batches
        if batch.synthetic != real
        and batch.status in FINISHED_STATUSES
        and (metrics is None or metrics.succeeded > 0)
    )


def comparable_figures(row: RunRow, *, target: str) -> RunFigures:
    """The figures of a run that can be tested: each finished provider's, and the
    providers pooled once the whole run is complete (a run in progress pools only the
    providers done so far, which is not comparable with a whole run), with the providers
    that pool pools and which providers are synthetic."""
    found: dict[Figure, Rate] = {}
    pools: tuple[frozenset[str], ...] = ()
    if row.complete and row.combined is not None:
        found.update(figures_of(row.combined, provider=None, target=target))
        pools = (pooled_providers(row),)
    for batch, metrics in row.batches:
        if metrics is not None and batch.status in FINISHED_STATUSES:
            found.update(figures_of(metrics, provider=provider_label(batch), target=target))
    synthetic = frozenset(provider_label(batch) for batch, _ in row.batches if batch.synthetic)
    return RunFigures(found, synthetic, pools)


@dataclass(frozen=True)
class Compared:
    """One figure in two runs, and how it moved from the first to the second."""

    name: str
    a: RunFigure
    b: RunFigure
    change: Change | None = None
    note: str | None = None
    """Why the figure is not tested, when it is not."""

    @property
    def synthetic(self) -> bool:
        return self.a.synthetic or self.b.synthetic


@dataclass(frozen=True)
class Comparison:
    combined: Compared
    """The visibility of the runs' providers pooled."""
    providers: list[Compared]
    """Each provider's visibility."""
    brands: list[Compared]
    """Each brand's mention rate, providers pooled."""
    tests: ComparisonTests
    """Every figure of the two runs tested, real and synthetic apart (the rows above are
    some of them)."""


def _provider_figures(row: RunRow) -> dict[str, RunFigure]:
    return {
        provider_label(batch): RunFigure(
            row.round,
            metrics.visibility if metrics else None,
            complete=batch.status in FINISHED_STATUSES and metrics is not None,
            synthetic=batch.synthetic,
        )
        for batch, metrics in row.batches
    }


def _brand_figures(row: RunRow) -> dict[str, RunFigure]:
    if row.combined is None:
        return {}
    return {
        name: RunFigure(row.round, rate, complete=row.complete, synthetic=row.synthetic)
        for name, rate in row.combined.mention_rates.items()
    }


def _change(test: ChangeTest | None) -> tuple[Change | None, str | None]:
    return Change.of(test), test.reason if test is not None else None


def _pair(
    first: RunRow,
    second: RunRow,
    a: dict[str, RunFigure],
    b: dict[str, RunFigure],
    tests: ComparisonTests,
    figure: Callable[[str], Figure],
) -> list[Compared]:
    return [
        Compared(
            name,
            a.get(name, RunFigure(first.round, None, complete=False)),
            b.get(name, RunFigure(second.round, None, complete=False)),
            *_change(tests.get(figure(name))),
        )
        for name in dict.fromkeys([*a, *b])
    ]


def compare_runs(
    first: RunRow, second: RunRow, *, target: str, level: float = FDR_LEVEL
) -> Comparison:
    """Run ``first`` (A) against run ``second`` (B): every figure of both
    (:func:`comparable_figures`) tested, the real ones together and the synthetic ones
    together, the false discovery rate of each controlled at ``level``; the rows show
    visibility per provider and pooled, and each brand's mention rate pooled."""
    tests = compare_run_figures(
        comparable_figures(first, target=target),
        comparable_figures(second, target=target),
        level=level,
    )

    def pooled(row: RunRow) -> RunFigure:
        visibility = row.combined.visibility if row.combined else None
        return RunFigure(row.round, visibility, complete=row.complete, synthetic=row.synthetic)

    def brand(name: str) -> Figure:
        if name == target:
            return Figure(None, Metric.VISIBILITY)
        return Figure(None, Metric.MENTION_RATE, name)

    return Comparison(
        combined=Compared(
            "All providers",
            pooled(first),
            pooled(second),
            *_change(tests.get(Figure(None, Metric.VISIBILITY))),
        ),
        providers=_pair(
            first,
            second,
            _provider_figures(first),
            _provider_figures(second),
            tests,
            lambda name: Figure(name, Metric.VISIBILITY),
        ),
        brands=_pair(first, second, _brand_figures(first), _brand_figures(second), tests, brand),
        tests=tests,
    )


@dataclass(frozen=True)
class RunPair:
    """Two runs of an experiment (A and B) and their comparison."""

    first: RunRow
    second: RunRow
    comparison: Comparison


async def run_pair(session: AsyncSession, experiment: Experiment, a: int, b: int) -> RunPair:
    """Run ``a`` against run ``b`` of the experiment (:func:`compare_runs`); a run it does
    not have is not found, and a run is not compared with itself."""
    if a == b:
        raise AppError(f"choose two different runs to compare (both are run {a})")
    runs = {
        r.round: r for r in [await experiment_round(session, experiment, n) for n in (a, b)] if r
    }
    missing = [n for n in (a, b) if n not in runs]
    if missing:
        raise NotFound(f"this experiment has no run {missing[0]}")
    batches = await round_batches(session, experiment.id, sorted({a, b}))
    rows = {row.round: row for row in run_rows([runs[n] for n in sorted({a, b})], batches)}
    first, second = rows[a], rows[b]
    return RunPair(first, second, compare_runs(first, second, target=target_of(experiment)))


# --- each run against the previous one and against a baseline ----------------------------


def significance_of_runs(
    rows: Sequence[RunRow],
    *,
    target: str,
    rounds: Collection[int] | None = None,
    baseline_runs: int = BASELINE_RUNS,
    level: float = FDR_LEVEL,
) -> list[RunSignificance]:
    """The significance of each run of ``rows`` (those of ``rounds`` if given), newest
    first, against the earlier runs of ``rows`` (:class:`RunSignificance`)."""
    if baseline_runs < 1:
        raise ValueError(f"the baseline needs at least one run, got {baseline_runs}")
    ordered = sorted(rows, key=lambda row: row.round, reverse=True)
    figures = {row.round: comparable_figures(row, target=target) for row in ordered}
    found = []
    for row in ordered:
        if rounds is not None and row.round not in rounds:
            continue
        window = [
            earlier
            for earlier in ordered
            if row.round - baseline_runs <= earlier.round < row.round
            and earlier.complete
            and earlier.combined is not None
        ]
        previous = window[0] if window else None
        mine = figures[row.round]
        found.append(
            RunSignificance(
                round=row.round,
                complete=row.complete,
                synthetic=any(figures[run.round].synthetic_providers for run in [row, *window]),
                baseline_runs=baseline_runs,
                previous=previous.round if previous else None,
                vs_previous=(
                    compare_run_figures(figures[previous.round], mine, level=level)
                    if previous
                    else None
                ),
                baseline=[earlier.round for earlier in window],
                vs_baseline=(
                    compare_run_figures(
                        pool_runs([figures[earlier.round] for earlier in window]),
                        mine,
                        level=level,
                    )
                    if window
                    else None
                ),
            )
        )
    return found


def target_of(experiment: Experiment) -> str:
    return str(experiment.brands["target"]["name"])


async def run_significance(
    session: AsyncSession,
    experiment: Experiment,
    *,
    newest: int | None = None,
    count: int = 1,
    baseline_runs: int = BASELINE_RUNS,
) -> list[RunSignificance]:
    """The significance of ``count`` runs of the experiment from run ``newest`` (its
    latest by default) back, newest first: their stored metrics and those of the
    ``baseline_runs`` runs before them are read (two queries, no answers)."""
    newest = experiment.runs if newest is None else newest
    stored = await rounds(
        session, experiment.id, limit=count + baseline_runs, before_round=newest + 1
    )
    batches = await round_batches(session, experiment.id, [r.round for r in stored])
    return significance_of_runs(
        run_rows(stored, batches),
        target=target_of(experiment),
        rounds=range(newest - count + 1, newest + 1),
        baseline_runs=baseline_runs,
    )


# --- two experiments side by side (personas, places, prompts) -----------------------------


@dataclass(frozen=True)
class ExperimentPair:
    """The latest runs of two experiments (A and B) tracking one target brand, compared as
    two runs are (:func:`compare_runs`): typically the same question asked as two personas
    or from two places."""

    first: Experiment
    second: Experiment
    first_run: RunRow
    second_run: RunRow
    comparison: Comparison
    differences: list[str]
    """What differs in how the two asked (persona, place, prompt...), in words."""

    def out(self) -> ExperimentComparisonOut:
        """The API's (and ``--json``'s) form."""
        first, second = self.first_run, self.second_run
        return ExperimentComparisonOut(
            a=ComparedExperimentOut.of(self.first, first.round, complete=first.complete),
            b=ComparedExperimentOut.of(self.second, second.round, complete=second.complete),
            differences=self.differences,
            synthetic=first.synthetic or second.synthetic,
            changes=ChangeTestsOut.of(self.comparison.tests, [first.round]),
        )


PLACE_PARTS = ("city", "region", "country", "timezone")


def place_text(location: Mapping[str, Any] | None) -> str:
    """Where an experiment asks from, e.g. ``Paris, FR`` (``none`` when nowhere given)."""
    parts = [str(location[key]) for key in PLACE_PARTS if location and location.get(key)]
    return ", ".join(parts) or "none"


def setting_differences(first: Experiment, second: Experiment) -> list[str]:
    """How two experiments asked differently, as ``what: A's → B's``; empty when alike."""
    settings: list[tuple[str, Callable[[Experiment], object]]] = [
        ("persona", lambda e: e.persona or "none"),
        ("place", lambda e: place_text(e.user_location)),
        ("prompt", lambda e: e.prompt),
        ("providers", lambda e: ", ".join(e.providers)),
        ("temperature", lambda e: e.temperature),
        ("web search", lambda e: "on" if e.grounding else "off"),
    ]
    return [
        f"{what}: {shown(first)} → {shown(second)}"
        for what, shown in settings
        if shown(first) != shown(second)
    ]


async def latest_run_row(session: AsyncSession, experiment: Experiment) -> RunRow:
    """The experiment's latest run as a :class:`RunRow` (an error when it has none)."""
    stored = await experiment_round(session, experiment, experiment.runs)
    if stored is None:
        raise AppError(f'experiment "{experiment.name}" has not run yet: nothing to compare')
    batches = await round_batches(session, experiment.id, [stored.round])
    (row,) = run_rows([stored], batches)
    return row


async def _latest_runs(session: AsyncSession, experiments: Sequence[Experiment]) -> list[RunRow]:
    """The latest runs of experiments to compare, in their order. Refused for an experiment
    given twice, for experiments tracking different target brands, and for one whose
    latest run has no complete answer."""
    seen: set[uuid.UUID] = set()
    for experiment in experiments:
        if experiment.id in seen:
            raise AppError(
                f'choose different experiments to compare: "{experiment.name}" is given twice'
            )
        seen.add(experiment.id)
    targets = list(dict.fromkeys(target_of(experiment) for experiment in experiments))
    if len(targets) > 1:
        raise AppError(
            f"the experiments track different target brands ({', '.join(targets)}): "
            "their figures are not comparable"
        )
    runs = [await latest_run_row(session, experiment) for experiment in experiments]
    for experiment, row in zip(experiments, runs, strict=True):
        if row.combined is None or row.combined.succeeded == 0:
            raise AppError(
                f'experiment "{experiment.name}" has no complete answer in its latest run '
                f"(run {row.round}, {row.status}): nothing to compare"
            )
    return runs


async def experiment_pair(
    session: AsyncSession, first: Experiment, second: Experiment
) -> ExperimentPair:
    """Experiment ``first`` (A) against ``second`` (B), their latest runs: every figure
    tested together, the false discovery rate controlled. Refused as :func:`_latest_runs`
    says."""
    first_run, second_run = await _latest_runs(session, [first, second])
    return ExperimentPair(
        first,
        second,
        first_run,
        second_run,
        compare_runs(first_run, second_run, target=target_of(first)),
        setting_differences(first, second),
    )


SIDE_BY_SIDE_MAX = 8
"""Experiments shown side by side at most (a table wider than that is not read)."""


@dataclass(frozen=True)
class Cell:
    """One experiment's figure, and (for B, C, ...) its difference from A's."""

    rate: Rate | None
    synthetic: bool
    test: ChangeTest | None = None

    @property
    def change(self) -> Change | None:
        return Change.of(self.test)

    @property
    def note(self) -> str | None:
        """Why the difference is not tested, when it is not."""
        return self.test.reason if self.test is not None else None


@dataclass(frozen=True)
class SideBySideRow:
    figure: Figure
    cells: list[Cell]
    """One per experiment, A first."""

    @property
    def name(self) -> str:
        """The row's heading on a page: the brand of a mention rate, else the provider."""
        return self.figure.brand or self.figure.provider or "All providers"


@dataclass(frozen=True)
class SideBySide:
    """The latest runs of several experiments tracking one target brand (e.g. the same
    question asked as several personas, or from several places), each figure of B, C, ...
    tested against A's, every test of every comparison adjusted together."""

    experiments: list[Experiment]
    runs: list[RunRow]
    versus_first: list[ComparisonTests]
    """B against A, C against A, ...: their q-values adjusted together."""
    differences: list[list[str]]
    """For each experiment, how it asked differently from A (empty for A)."""
    rows: list[SideBySideRow]
    """Every figure of any of the experiments, in :attr:`Figure.order`."""

    @property
    def target(self) -> str:
        return target_of(self.experiments[0])

    @property
    def synthetic(self) -> bool:
        return any(run.synthetic for run in self.runs)

    @property
    def statement(self) -> str:
        return joint_statement(self.versus_first)

    @property
    def significant(self) -> list[tuple[Experiment, ChangeTest]]:
        """Every significant difference from A, with the experiment that has it."""
        return [
            (experiment, test)
            for experiment, tests in zip(self.experiments[1:], self.versus_first, strict=True)
            for test in tests.significant
        ]

    def visibility_rows(self) -> list[SideBySideRow]:
        """The target's visibility per provider, then all providers pooled."""
        found = [row for row in self.rows if row.figure.metric is Metric.VISIBILITY]
        return [row for row in found if row.figure.provider] + [
            row for row in found if not row.figure.provider
        ]

    def brand_rows(self) -> list[SideBySideRow]:
        """Every brand's mention rate, all providers pooled (the target's: its visibility)."""
        target = self.target
        return [
            SideBySideRow(Figure(None, row.figure.metric, row.figure.brand or target), row.cells)
            for row in self.rows
            if row.figure.provider is None
            and row.figure.metric in (Metric.VISIBILITY, Metric.MENTION_RATE)
        ]

    def out(self) -> SideBySideOut:
        """The API's (and ``--json``'s) form."""
        tests = self.versus_first
        return SideBySideOut(
            experiments=[
                ComparedExperimentOut.of(experiment, run.round, complete=run.complete)
                for experiment, run in zip(self.experiments, self.runs, strict=True)
            ],
            differences=self.differences,
            synthetic=self.synthetic,
            method=METHOD,
            fdr_level=tests[0].level,
            statement=self.statement,
            tests_run=sum(t.tested for t in tests),
            significant=len(self.significant),
            rows=[
                SideBySideRowOut(
                    metric=row.figure.metric,
                    provider=row.figure.provider,
                    brand=row.figure.brand,
                    label=row.figure.label,
                    cells=[
                        SideBySideCellOut(
                            rate=cell.rate,
                            synthetic=cell.synthetic,
                            versus_a=None if cell.test is None else ChangeTestOut.of(cell.test),
                        )
                        for cell in row.cells
                    ],
                )
                for row in self.rows
            ],
        )


def check_side_by_side(count: int) -> None:
    """Refuse a number of experiments that cannot be shown side by side (before any is
    read)."""
    if not 2 <= count <= SIDE_BY_SIDE_MAX:
        raise AppError(
            f"choose from 2 to {SIDE_BY_SIDE_MAX} experiments to show side by side ({count} given)"
        )


async def side_by_side(session: AsyncSession, experiments: Sequence[Experiment]) -> SideBySide:
    """Experiments B, C, ... each against A (the first), their latest runs: every figure
    tested (:func:`compare_run_figures`), all the tests adjusted together
    (:func:`adjust_together`). From 2 to :data:`SIDE_BY_SIDE_MAX` experiments, refused
    as :func:`_latest_runs` says."""
    check_side_by_side(len(experiments))
    runs = await _latest_runs(session, experiments)
    target = target_of(experiments[0])
    figures = [comparable_figures(run, target=target) for run in runs]
    versus_first = adjust_together(
        [compare_run_figures(figures[0], other) for other in figures[1:]]
    )
    tests = [None, *versus_first]
    order = sorted({figure for found in figures for figure in found.rates}, key=lambda f: f.order)
    rows = [
        SideBySideRow(
            figure,
            [
                Cell(
                    found.rates.get(figure),
                    found.is_synthetic(figure),
                    None if mine is None else mine.get(figure),
                )
                for found, mine in zip(figures, tests, strict=True)
            ],
        )
        for figure in order
    ]
    return SideBySide(
        list(experiments),
        runs,
        versus_first,
        [[], *(setting_differences(experiments[0], other) for other in experiments[1:])],
        rows,
    )


COMPARABLE_LISTED = 500
"""At most this many experiments are offered to compare with, the newest (any other is
reached by its id: ``/experiments/{a}/versus/{b}``, the API, the CLI)."""


@dataclass(frozen=True)
class ComparableExperiment:
    """An experiment offered to compare with: what the list shows of it."""

    id: uuid.UUID
    name: str
    persona: str | None
    user_location: dict[str, Any] | None
    created_at: datetime


async def comparable_experiments(
    session: AsyncSession, experiment: Experiment
) -> list[ComparableExperiment]:
    """The workspace's other experiments whose latest run finished with answers (completed
    or partial) and that track the same target brand, newest first, at most
    :data:`COMPARABLE_LISTED`: what the experiment page offers to compare with. One query
    of the listed columns, the target matched in SQL (no brand sets read)."""
    found = await session.execute(
        select(
            Experiment.id,
            Experiment.name,
            Experiment.persona,
            Experiment.user_location,
            Experiment.created_at,
        )
        .where(
            Experiment.workspace_id == experiment.workspace_id,
            Experiment.id != experiment.id,
            Experiment.status.in_((ExperimentStatus.COMPLETED, ExperimentStatus.PARTIAL)),
            Experiment.brands["target"]["name"].as_string() == target_of(experiment),
        )
        .order_by(Experiment.created_at.desc(), Experiment.id.desc())
        .limit(COMPARABLE_LISTED)
    )
    return [ComparableExperiment(**row._mapping) for row in found]
