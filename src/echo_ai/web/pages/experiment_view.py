"""The experiment page (status, live progress, metrics, charts, raw answers, exports,
actions), its runs history and the comparison of two runs.

Every figure comes from stored metrics (the batch rows and ``experiment_rounds``); the
progress from the batch rows' counters; answers are read a keyset page at a time
(:mod:`echo_ai.experiments.history`). The write actions' routes live elsewhere; this
page only posts to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from markupsafe import Markup, escape

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import Extraction
from echo_ai.analysis.metrics import BatchMetrics, Rate
from echo_ai.analysis.statistics import significant_change
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.pagination import InvalidCursor, decode_cursor, encode_cursor, row_index
from echo_ai.errors import NotFound
from echo_ai.experiments import export, history
from echo_ai.experiments import service as experiments
from echo_ai.experiments.history import Shown
from echo_ai.runs.models import (
    FINISHED_STATUSES,
    BatchRun,
    BatchStatus,
    Experiment,
    ExperimentRound,
    ExperimentStatus,
    Iteration,
)
from echo_ai.web.format import local_time
from echo_ai.web.rendering import render
from echo_ai.web.viewer import CurrentViewer, Viewer

router = APIRouter(include_in_schema=False)

ANSWERS_PER_PAGE = 10
RUNS_PER_PAGE = 10
TREND_RUNS = experiments.RECENT_RUNS
FINISHED = frozenset(
    {
        ExperimentStatus.COMPLETED,
        ExperimentStatus.PARTIAL,
        ExperimentStatus.FAILED,
        ExperimentStatus.CANCELLED,
    }
)
PATH = "/experiments/{experiment_id:uuid}"


# --- shaping ---------------------------------------------------------------------------


def label(batch: BatchRun) -> str:
    """``vendor:model``, as the API names a provider."""
    return f"{batch.provider}:{batch.model}"


def metrics_of(stored: dict[str, Any] | None) -> BatchMetrics | None:
    return BatchMetrics.model_validate(stored) if stored else None


@dataclass(frozen=True)
class Column:
    """One column of the metrics table: a provider's batch, or the run combined."""

    name: str
    metrics: BatchMetrics | None
    synthetic: bool
    batch: BatchRun | None = None


def highlight(answer: str, extraction: dict[str, Any] | None, target: str) -> Markup:
    """The answer as HTML with each brand mention in ``<mark>`` (the target's
    ``mark.target``) from the stored offsets; every piece of the text is escaped.
    Offsets that overlap an earlier mention or fall outside the text are skipped."""
    mentions = Extraction.from_dict(extraction).mentions if extraction else ()
    pieces: list[str] = []
    position = 0
    for mention in sorted(mentions, key=lambda m: (m.start, -m.end)):
        if mention.start < position or mention.end > len(answer) or mention.start >= mention.end:
            continue
        kind = ' class="target"' if mention.brand == target else ""
        pieces.append(str(escape(answer[position : mention.start])))
        pieces.append(
            f'<mark{kind} title="{escape(mention.brand)}">'
            f"{escape(answer[mention.start : mention.end])}</mark>"
        )
        position = mention.end
    pieces.append(str(escape(answer[position:])))
    return Markup("".join(pieces))  # noqa: S704 - built from escaped pieces only


def safe_link(url: object) -> str | None:
    """A URL a page may link to: http(s) only (never ``javascript:`` and the like)."""
    if not isinstance(url, str):
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in {"http", "https"} else None


@dataclass(frozen=True)
class Link:
    url: str | None
    text: str


def links(citations: Iterable[dict[str, Any]]) -> list[Link]:
    found = []
    for citation in citations:
        url = citation.get("url")
        title = citation.get("title")
        found.append(Link(safe_link(url), str(title or url or "")))
    return found


@dataclass(frozen=True)
class Answer:
    iteration: Iteration
    provider: str
    synthetic: bool
    html: Markup
    mentioned: bool
    citations: list[Link]
    sources: list[Link]


def answer_of(iteration: Iteration, batch: BatchRun, target: str) -> Answer:
    extraction = iteration.extraction if iteration.success else None
    return Answer(
        iteration=iteration,
        provider=label(batch),
        synthetic=batch.synthetic,
        html=highlight(iteration.answer or "", extraction, target),
        mentioned=bool(extraction and target in extraction.get("brands_in_order", [])),
        citations=links(iteration.citations),
        sources=links(iteration.sources),
    )


def run_status(batches: Sequence[BatchRun]) -> ExperimentStatus:
    """A run's status from its batches (as :mod:`echo_ai.runs.service` decides it)."""
    statuses = {batch.status for batch in batches}
    if not statuses or statuses <= {BatchStatus.QUEUED}:
        return ExperimentStatus.QUEUED
    if not statuses <= FINISHED_STATUSES:
        return ExperimentStatus.RUNNING
    if statuses == {BatchStatus.COMPLETED}:
        return ExperimentStatus.COMPLETED
    if BatchStatus.COMPLETED in statuses and BatchStatus.FAILED in statuses:
        return ExperimentStatus.PARTIAL
    if BatchStatus.CANCELLED in statuses:
        return ExperimentStatus.CANCELLED
    return ExperimentStatus.FAILED


def rate_data(rate: Rate | None) -> dict[str, Any] | None:
    if rate is None or rate.value is None:
        return None
    return {"value": rate.value, "low": rate.ci_low, "high": rate.ci_high, "n": rate.denominator}


@dataclass(frozen=True)
class TrendPoint:
    round: int
    when: Any
    visibility: Rate | None
    change: float | None
    significant: bool


def trend(rounds: Sequence[ExperimentRound]) -> list[TrendPoint]:
    """The combined visibility of each run, oldest first, with its change from the run
    before and whether that change is significant (two-proportion / Fisher test)."""
    points: list[TrendPoint] = []
    previous: Rate | None = None
    for stored in sorted(rounds, key=lambda r: r.round):
        metrics = metrics_of(stored.combined)
        current = metrics.visibility if metrics else None
        change, significant = None, False
        if current and previous and current.value is not None and previous.value is not None:
            change = current.value - previous.value
            significant = significant_change(
                previous.numerator, previous.denominator, current.numerator, current.denominator
            )
        points.append(TrendPoint(stored.round, stored.created_at, current, change, significant))
        if current is not None and current.value is not None:
            previous = current
    return points


def chart_data(
    columns: list[Column], combined: BatchMetrics | None, points: list[TrendPoint]
) -> dict[str, Any]:
    """What charts.js draws (the tables beside the charts show the same numbers)."""
    providers = [c for c in columns if c.batch is not None and c.metrics is not None]
    data: dict[str, Any] = {
        "providers": {
            "labels": [c.name for c in providers],
            "visibility": [rate_data(c.metrics.visibility) for c in providers if c.metrics],
            "share_of_voice": [
                rate_data_sov(c.metrics) for c in providers if c.metrics is not None
            ],
        },
        "trend": {
            "labels": [f"Run {p.round}" for p in points],
            "points": [
                {**(rate_data(p.visibility) or {}), "significant": p.significant} for p in points
            ],
        },
    }
    if combined is not None:
        brands = sorted(combined.mention_rates.items(), key=lambda item: -(item[1].value or 0.0))
        data["brands"] = {
            "labels": [name for name, _ in brands],
            "rates": [rate_data(rate) for _, rate in brands],
        }
        positions = combined.target_positions or {}
        data["positions"] = {
            "labels": [f"#{rank}" for rank in positions] + ["not named"],
            "counts": [*positions.values(), combined.succeeded - combined.visibility.numerator],
        }
        if combined.sources is not None:
            data["domains"] = {
                "labels": [d.name for d in combined.sources.domains[:10]],
                "cited": [d.cited for d in combined.sources.domains[:10]],
                "retrieved": [d.retrieved for d in combined.sources.domains[:10]],
            }
    return data


def rate_data_sov(metrics: BatchMetrics) -> dict[str, Any] | None:
    share = metrics.share_of_voice
    if share.value is None:
        return None
    return {
        "value": share.value,
        "low": share.ci_low,
        "high": share.ci_high,
        "n": metrics.succeeded,
    }


def _after(cursor: str | None, batches: Sequence[BatchRun]) -> tuple[uuid.UUID, int] | None:
    if cursor is None:
        return None
    batch_id, index = decode_cursor(cursor, uuid.UUID, lambda v: row_index(str(int(v) + 1)) - 1)
    if batch_id not in {batch.id for batch in batches}:
        raise InvalidCursor
    return batch_id, index


@dataclass(frozen=True)
class Answers:
    """A page of answers with its filters, for the templates."""

    items: list[Answer]
    shown: Shown
    provider: str
    run: int
    providers: list[str]
    next_url: str | None
    exhausted_scan: bool
    first_page_url: str | None
    base: str


async def load_answers(
    session: SessionDep,
    experiment: Experiment,
    *,
    shown: Shown,
    provider: str,
    run: int | None,
    cursor: str | None,
) -> Answers:
    round_ = experiment.runs if run is None or not 1 <= run <= experiment.runs else run
    batches = await history.round_batches(session, experiment.id, [round_])
    chosen = [b for b in batches if not provider or label(b) == provider]
    target = BrandSet.model_validate(experiment.brands).target.name
    page = await history.answers_page(
        session,
        chosen,
        target=target,
        shown=shown,
        limit=ANSWERS_PER_PAGE,
        after=_after(cursor, chosen),
    )
    by_id = {batch.id: batch for batch in chosen}
    base = f"/experiments/{experiment.id}/answers"
    query = {"shown": str(shown), "provider": provider, "run": str(round_)}
    next_url = None
    if page.after is not None:
        next_url = base + "?" + urlencode({**query, "cursor": encode_cursor(*map(str, page.after))})
    return Answers(
        items=[answer_of(it, by_id[it.batch_run_id], target) for it in page.items],
        shown=shown,
        provider=provider,
        run=round_,
        providers=[label(b) for b in batches],
        next_url=next_url,
        exhausted_scan=page.exhausted_scan,
        first_page_url=base + "?" + urlencode(query) if cursor else None,
        base=base,
    )


def _context(viewer: Viewer, experiment: Experiment) -> dict[str, Any]:
    brands = BrandSet.model_validate(experiment.brands)
    return {
        "viewer": viewer,
        "experiment": experiment,
        "target": brands.target.name,
        "brand_names": brands.names,
        "local": partial(local_time, tz=viewer.tz),
        "label": label,
        "Shown": Shown,
    }


# --- pages -----------------------------------------------------------------------------


ShownQuery = Annotated[Shown, Query()]


@router.get(PATH)
async def experiment_page(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
) -> Response:
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=1
    )
    report = await experiments.report(session, experiment)
    rounds = await history.rounds(session, experiment.id, limit=TREND_RUNS)
    stored = next((r for r in rounds if r.round == experiment.runs), None)
    columns = [Column(label(b), m, b.synthetic, b) for b, m in report.batches]
    combined = report.combined
    points = trend(rounds)
    answers = await load_answers(
        session, experiment, shown=Shown.ALL, provider="", run=None, cursor=None
    )
    return render(
        request,
        "experiments/detail.html",
        **_context(viewer, experiment),
        report=report,
        columns=columns,
        combined=combined,
        combined_column=Column("All providers", combined, report.synthetic),
        failed=[b for b, _ in report.batches if b.status == BatchStatus.FAILED],
        failed_providers=list(stored.failed_providers) if stored else report.failed_providers,
        running=experiment.status not in FINISHED,
        batches=[batch for batch, _ in report.batches],
        trend=points,
        charts=chart_data(columns, combined, points),
        answers=answers,
        brand_rates=sorted(
            (combined.mention_rates.items() if combined else ()),
            key=lambda item: -(item[1].value or 0.0),
        ),
        synthetic=report.synthetic,
    )


@router.get(PATH + "/progress")
async def progress(
    request: Request, experiment_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    """The live progress fragment htmx polls; once the run has ended it asks htmx to
    reload the page (``HX-Refresh``), and its markup no longer polls."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=1
    )
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/experiments/{experiment.id}", status_code=303)
    running = experiment.status not in FINISHED
    return render(
        request,
        "experiments/detail_progress.html",
        headers=None if running else {"HX-Refresh": "true"},
        **_context(viewer, experiment),
        batches=experiments.latest_batches(experiment),
        running=running,
    )


@router.get(PATH + "/answers")
async def answers_page(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
    shown: ShownQuery = Shown.ALL,
    provider: Annotated[str, Query(max_length=250)] = "",
    run: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """The raw answers, filtered and paged: the whole page, or the list alone for htmx."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=1
    )
    answers = await load_answers(
        session, experiment, shown=shown, provider=provider, run=run, cursor=cursor
    )
    fragment = (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-target") == "answers"
    )
    return render(
        request,
        "experiments/answers_list.html" if fragment else "experiments/answers.html",
        **_context(viewer, experiment),
        answers=answers,
        synthetic=any(a.synthetic for a in answers.items),
    )


@router.get(PATH + "/export")
async def export_download(
    experiment_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
    fmt: Annotated[export.Format, Query(alias="format")] = export.Format.CSV,
) -> StreamingResponse:
    """The export of the API and the CLI (every iteration, streamed), as a download."""
    experiment = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id)
    source = await export.begin(session, experiment, fmt, actor=viewer.actor)
    body = export.chunks(state.runtime.session_factory, source, fmt)
    return StreamingResponse(
        (text async for text, _ in body),
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="experiment-{experiment.id}.{fmt}"'},
    )


@dataclass(frozen=True)
class RunRow:
    round: int
    status: ExperimentStatus
    started: Any
    finished: Any
    combined: BatchMetrics | None
    batches: list[tuple[BatchRun, BatchMetrics | None]]
    failed_providers: list[str]
    synthetic: bool

    @property
    def cost(self) -> Any:
        return self.combined.cost.total_usd if self.combined else None


def run_rows(rounds: Sequence[ExperimentRound], batches: Sequence[BatchRun]) -> list[RunRow]:
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
                status=run_status(mine),
                started=min((b.created_at for b in mine), default=stored.created_at),
                finished=max(ends) if ends and len(ends) == len(mine) else None,
                combined=metrics_of(stored.combined),
                batches=[(b, metrics_of(b.metrics)) for b in mine],
                failed_providers=list(stored.failed_providers),
                synthetic=any(b.synthetic for b in mine),
            )
        )
    return rows


@router.get(PATH + "/runs")
async def runs_page(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """Every run of the experiment with its figures, newest first, a page at a time."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=0
    )
    before = decode_cursor(cursor, row_index)[0] if cursor is not None else None
    rounds = await history.rounds(
        session, experiment.id, limit=RUNS_PER_PAGE + 1, before_round=before
    )
    shown = rounds[:RUNS_PER_PAGE]
    batches = await history.round_batches(session, experiment.id, [r.round for r in shown])
    next_url = None
    if len(rounds) > RUNS_PER_PAGE:
        next_url = f"/experiments/{experiment.id}/runs?cursor={encode_cursor(str(shown[-1].round))}"
    rows = run_rows(shown, batches)
    return render(
        request,
        "experiments/runs.html",
        **_context(viewer, experiment),
        rows=rows,
        next_url=next_url,
        first_page=cursor is None,
        synthetic=any(row.synthetic for row in rows),
    )


@dataclass(frozen=True)
class Change:
    """One figure in two runs: its change and whether it is significant."""

    name: str
    a: Rate | None
    b: Rate | None
    synthetic: bool

    @property
    def change(self) -> float | None:
        if self.a is None or self.b is None or self.a.value is None or self.b.value is None:
            return None
        return self.b.value - self.a.value

    @property
    def significant(self) -> bool:
        if self.change is None or self.a is None or self.b is None:
            return False
        return significant_change(
            self.a.numerator, self.a.denominator, self.b.numerator, self.b.denominator
        )


def changes(
    a: dict[str, tuple[Rate | None, bool]], b: dict[str, tuple[Rate | None, bool]]
) -> list[Change]:
    names = list(dict.fromkeys([*a, *b]))
    return [
        Change(
            name,
            a.get(name, (None, False))[0],
            b.get(name, (None, False))[0],
            a.get(name, (None, False))[1] or b.get(name, (None, False))[1],
        )
        for name in names
    ]


@router.get(PATH + "/compare")
async def compare_page(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
    a: Annotated[int, Query(ge=1, le=2**31 - 1)],
    b: Annotated[int, Query(ge=1, le=2**31 - 1)],
) -> Response:
    """Two runs side by side: per provider and per brand, the change from run ``a`` to
    run ``b`` and whether it is significant."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=0
    )
    runs = {
        r.round: r
        for r in [await history.experiment_round(session, experiment, n) for n in (a, b)]
        if r
    }
    missing = [n for n in (a, b) if n not in runs]
    if missing:
        raise NotFound(f"this experiment has no run {missing[0]}")
    batches = await history.round_batches(session, experiment.id, sorted({a, b}))
    rows = {
        row.round: row for row in run_rows([runs[a], runs[b]] if a != b else [runs[a]], batches)
    }

    def by_provider(row: RunRow) -> dict[str, tuple[Rate | None, bool]]:
        return {
            label(batch): (m.visibility if m else None, batch.synthetic) for batch, m in row.batches
        }

    def by_brand(row: RunRow) -> dict[str, tuple[Rate | None, bool]]:
        if row.combined is None:
            return {}
        return {name: (rate, row.synthetic) for name, rate in row.combined.mention_rates.items()}

    first, second = rows[a], rows[b]
    combined = Change(
        "All providers",
        first.combined.visibility if first.combined else None,
        second.combined.visibility if second.combined else None,
        first.synthetic or second.synthetic,
    )
    return render(
        request,
        "experiments/compare.html",
        **_context(viewer, experiment),
        first=first,
        second=second,
        combined=combined,
        providers=changes(by_provider(first), by_provider(second)),
        brands=changes(by_brand(first), by_brand(second)),
        synthetic=first.synthetic or second.synthetic,
    )
