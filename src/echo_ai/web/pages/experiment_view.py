"""The experiment page (status, live progress, metrics, charts, raw answers, exports,
actions), its runs history and the comparison of two runs.

Every figure comes from stored metrics (the batch rows and ``experiment_rounds``); the
progress from the batch rows' counters; answers are read a keyset page at a time. What a
run's status is and how figures move from run to run is decided in
:mod:`echo_ai.experiments.history` (the overview's rule too); this module shapes it for
the templates. The write actions' routes live elsewhere; this page only posts to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from markupsafe import Markup, escape

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import Extraction
from echo_ai.analysis.metrics import BatchMetrics, Rate, SentimentSummary
from echo_ai.analysis.significance import BASELINE_RUNS, FDR_LEVEL
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.pagination import InvalidCursor, decode_cursor, encode_cursor, row_index
from echo_ai.experiments import discovered as discovery
from echo_ai.experiments import export, history
from echo_ai.experiments import service as experiments
from echo_ai.experiments.history import RunChange, Shown, provider_label
from echo_ai.experiments.schemas import (
    ExperimentReport,
    combinations_out,
    experiment_warnings,
)
from echo_ai.experiments.tracker_schemas import PooledRateOut
from echo_ai.runs.models import (
    FINISHED_EXPERIMENT_STATUSES,
    BatchRun,
    BatchStatus,
    Experiment,
    Iteration,
)
from echo_ai.web.format import local_time
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, Viewer

router = APIRouter(include_in_schema=False)

ANSWERS_PER_PAGE = 10
RUNS_PER_PAGE = 10
PATH = "/experiments/{experiment_id:uuid}"


# --- shaping ---------------------------------------------------------------------------


label = provider_label


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
    Offsets that overlap an earlier mention or fall outside the text are skipped. A brand
    whose sentiment was scored says so in its mark's title and ``data-sentiment``."""
    parsed = Extraction.from_dict(extraction) if extraction else None
    mentions = parsed.mentions if parsed else ()
    sentiment = parsed.sentiment if parsed else {}
    pieces: list[str] = []
    position = 0
    for mention in sorted(mentions, key=lambda m: (m.start, -m.end)):
        if mention.start < position or mention.end > len(answer) or mention.start >= mention.end:
            continue
        kind = ' class="target"' if mention.brand == target else ""
        found = sentiment.get(mention.brand)
        tone = f' data-sentiment="{found.label}"' if found is not None else ""
        pieces.append(str(escape(answer[position : mention.start])))
        pieces.append(
            f'<mark{kind} title="{escape(mention.brand)}"{tone}>'
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


NOT_COUNTED = {
    "truncated": "cut off by the output limit",
    "refused": "the assistant declined to answer",
    "empty": "no answer text",
}
"""The answer classes that are not samples, with what each means to a user (the page's
badge and the metrics table say why such an answer is in no rate)."""

_OUTPUT_LIMIT_KEYS = ("max_output_tokens", "max_completion_tokens", "max_tokens")
"""Where vendors' requests put the output limit (Responses, Chat Completions, Messages)."""


def sent_line(parameters: Mapping[str, Any] | None) -> str | None:
    """What a batch was asked with, in one short line: the temperature the answers were
    sampled at (a model that takes none gets the vendor's default) and the output limit.
    None when the batch recorded nothing (no answer yet, or a provider that reports none)."""
    if not parameters:
        return None
    parts: list[str] = []
    sent = parameters.get("temperature")
    used = parameters.get("temperature_used", sent)
    shown = f"temperature {used:g}" if isinstance(used, int | float) else None
    if "temperature" in parameters and sent is None:
        parts.append(
            f"no temperature sent (the model takes none; it samples at its default, {used:g})"
            if isinstance(used, int | float)
            else "no temperature sent (the model takes none)"
        )
    elif shown:
        parts.append(shown)
    limit = next((parameters[key] for key in _OUTPUT_LIMIT_KEYS if key in parameters), None)
    if isinstance(limit, int):
        parts.append(f"output limit {limit:,} tokens")
    return " · ".join(parts) or None


@dataclass(frozen=True)
class Answer:
    iteration: Iteration
    provider: str
    synthetic: bool
    html: Markup
    mentioned: bool
    citations: list[Link]
    sources: list[Link]
    sentiment: list[BrandSentiment] = field(default_factory=list)
    """How the answer speaks of each brand it names (empty: not scored)."""

    @property
    def not_counted(self) -> str | None:
        """Why a stored answer is in no rate (its class's meaning), None if it counts."""
        return NOT_COUNTED.get(self.iteration.answer_class or "")


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
        sentiment=sentiments_of(extraction),
    )


@dataclass(frozen=True)
class BrandSentiment:
    brand: str
    label: str
    score: float
    scorer: str | None


def sentiments_of(extraction: dict[str, Any] | None) -> list[BrandSentiment]:
    if not extraction:
        return []
    parsed = Extraction.from_dict(extraction)
    return [
        BrandSentiment(b, s.label, s.score, s.scorer or parsed.sentiment_method)
        for b, s in parsed.sentiment.items()
    ]


def rate_data(rate: Rate | PooledRateOut | None) -> dict[str, Any] | None:
    """A rate as charts.js draws it (an answer-level rate, or one pooled over prompts)."""
    if rate is None or rate.value is None:
        return None
    return {"value": rate.value, "low": rate.ci_low, "high": rate.ci_high, "n": rate.denominator}


def chart_data(
    columns: list[Column], combined: BatchMetrics | None, points: list[RunChange]
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
            "labels": [f"Run {p.run.round}" for p in points],
            "points": [
                {
                    **(rate_data(p.run.rate) or {}),
                    "significant": p.change is not None and p.change.significant,
                }
                for p in points
            ],
        },
    }
    if combined is not None:
        brands = sorted(combined.mention_rates.items(), key=lambda item: -(item[1].value or 0.0))
        data["brands"] = {
            "labels": [name for name, _ in brands],
            "rates": [rate_data(rate) for _, rate in brands],
        }
        if combined.sentiment is not None:
            rows = sentiment_rows(combined)
            data["sentiment"] = {
                "labels": [name for name, _ in rows],
                "positive": [rate_data(s.positive) for _, s in rows],
                "neutral": [rate_data(s.neutral) for _, s in rows],
                "negative": [rate_data(s.negative) for _, s in rows],
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


def sentiment_rows(combined: BatchMetrics | None) -> list[tuple[str, SentimentSummary]]:
    """Brands whose sentiment is known, the most often named first."""
    if combined is None or combined.sentiment is None:
        return []
    named = [(brand, s) for brand, s in combined.sentiment.items() if s.answers]
    return sorted(named, key=lambda item: -item[1].answers)


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


def scan_position(value: str) -> int:
    """The index part of an answers cursor: the last index of its batch that a page looked
    at, or -1 when a page's scan stopped before the batch's first index."""
    position = int(value)
    return position if position == -1 else row_index(value)


def answers_after(cursor: str | None, batches: list[BatchRun]) -> tuple[uuid.UUID, int] | None:
    """Where an answers cursor continues: one of ``batches`` and a :func:`scan_position`
    (:class:`InvalidCursor` for any other cursor)."""
    if cursor is None:
        return None
    batch_id, position = decode_cursor(cursor, uuid.UUID, scan_position)
    if batch_id not in {batch.id for batch in batches}:
        raise InvalidCursor
    return batch_id, position


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
    """A page of answers of one run (the latest, whose batches ``experiment`` has loaded,
    unless ``run`` names an earlier one)."""
    round_ = experiment.runs if run is None or not 1 <= run <= experiment.runs else run
    if round_ == experiment.runs:
        found = experiments.latest_batches(experiment)
    else:
        found = await history.round_batches(session, experiment.id, [round_])
    # One order whichever way the batches were read: a cursor continues in it.
    batches = sorted(found, key=lambda b: (b.created_at, b.id))
    chosen = [b for b in batches if not provider or label(b) == provider]
    target = BrandSet.model_validate(experiment.brands).target.name
    page = await history.answers_page(
        session,
        chosen,
        target=target,
        shown=shown,
        limit=ANSWERS_PER_PAGE,
        after=answers_after(cursor, chosen),
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
        "sent_line": sent_line,
        "not_counted_kinds": NOT_COUNTED,
    }


def combined_columns(report: ExperimentReport) -> list[Column]:
    """A column per combination of the run's providers (real, then synthetic: never
    pooled together), named by what it pools."""
    if not report.combinations:  # a round stored before combinations, not yet filled
        return [Column("All providers", report.combined, report.synthetic)]
    return [
        Column(combination.label, combination.pooled, combination.synthetic)
        for combination in combinations_out(report.combinations)
    ]


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
    recent = await history.recent_runs(session, [experiment.id])
    points = history.run_changes(recent.get(experiment.id, []))
    stored = await history.experiment_round(session, experiment, experiment.runs)
    columns = [Column(label(b), m, b.synthetic, b) for b, m in report.batches]
    combined = report.combined
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
        combined_columns=combined_columns(report),
        combinations=combinations_out(report.combinations),
        warnings=experiment_warnings(experiment, [batch for batch, _ in report.batches]),
        failed=[b for b, _ in report.batches if b.status == BatchStatus.FAILED],
        failed_providers=list(stored.failed_providers) if stored else report.failed_providers,
        running=experiment.status not in FINISHED_EXPERIMENT_STATUSES,
        batches=[batch for batch, _ in report.batches],
        trend=points,
        trend_synthetic=any(p.run.synthetic for p in points),
        comparable=await history.comparable_experiments(session, experiment),
        side_by_side_max=history.SIDE_BY_SIDE_MAX,
        charts=chart_data(columns, combined, points),
        answers=answers,
        sentiment_rows=sentiment_rows(combined),
        brand_rates=sorted(
            (combined.mention_rates.items() if combined else ()),
            key=lambda item: -(item[1].value or 0.0),
        ),
        synthetic=report.synthetic,
        discovered=await discovery.discovered(session, experiment) if experiment.runs else None,
        min_answers=discovery.MIN_ANSWERS,
        # The pooled figures are the real providers' whenever one ran (the demo is
        # combined apart): synthetic only when every provider is the demo.
        combined_synthetic=bool(report.batches) and all(b.synthetic for b, _ in report.batches),
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
    running = experiment.status not in FINISHED_EXPERIMENT_STATUSES
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
    """The raw answers, filtered and paged: the whole page, or the list alone for htmx.
    Each page shown is an access record in the audit log (``experiment.iterations_read``)."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=1
    )
    answers = await load_answers(
        session, experiment, shown=shown, provider=provider, run=run, cursor=cursor
    )
    await export.record_read(session, experiment, len(answers.items), actor=viewer.actor)
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
    rows = history.run_rows(shown, batches)
    tested = (
        await history.run_significance(session, experiment, newest=shown[0].round, count=len(shown))
        if shown
        else []
    )
    return render(
        request,
        "experiments/runs.html",
        **_context(viewer, experiment),
        rows=rows,
        significance={run.round: run for run in tested},
        baseline_runs=BASELINE_RUNS,
        fdr_level=FDR_LEVEL,
        next_url=next_url,
        first_page=cursor is None,
        synthetic=any(row.synthetic for row in rows),
    )


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
    run ``b`` and whether it is significant (every figure of the two runs tested
    together, the false discovery rate controlled)."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=viewer.workspace_id, runs=0
    )
    pair = await history.run_pair(session, experiment, a, b)
    return render(
        request,
        "experiments/compare.html",
        **_context(viewer, experiment),
        first=pair.first,
        second=pair.second,
        comparison=pair.comparison,
        synthetic=pair.first.synthetic or pair.second.synthetic,
        other=None,
        label_a=f"Run {pair.first.round} (A)",
        label_b=f"Run {pair.second.round} (B)",
        changes_title=f"Run {pair.second.round} vs run {pair.first.round}",
    )


@router.get(PATH + "/versus")
async def choose_experiment_to_compare(
    request: Request,
    experiment_id: uuid.UUID,
    viewer: CurrentViewer,
    other: Annotated[uuid.UUID, Query()],
) -> Response:
    """Where the experiment page's "Compare with" form leads: the comparison's page."""
    return see_other(request, f"/experiments/{experiment_id}/versus/{other}")


@router.get(PATH + "/versus/{other_id}")
async def compare_experiments_page(
    request: Request,
    experiment_id: uuid.UUID,
    other_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
) -> Response:
    """Two experiments side by side (e.g. two personas or two places asking the same
    question): their latest runs per provider and per brand, the change from A to B and
    whether it is significant (every figure tested together, the FDR controlled)."""
    first = await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id, runs=0)
    second = await experiments.get(session, other_id, workspace_id=viewer.workspace_id, runs=0)
    pair = await history.experiment_pair(session, first, second)
    return render(
        request,
        "experiments/compare.html",
        **_context(viewer, first),
        first=pair.first_run,
        second=pair.second_run,
        comparison=pair.comparison,
        synthetic=pair.first_run.synthetic or pair.second_run.synthetic,
        other=second,
        differences=pair.differences,
        label_a=f"A: {first.name}",
        label_b=f"B: {second.name}",
        changes_title=f"{second.name} (B) vs {first.name} (A)",
    )


@router.get("/experiments/side-by-side")
async def side_by_side_page(
    request: Request,
    viewer: CurrentViewer,
    session: SessionDep,
    experiment_ids: Annotated[list[uuid.UUID], Query(alias="id")],
) -> Response:
    """Several experiments side by side (e.g. one question asked as several personas or
    from several places): their latest runs per provider and per brand, each figure's
    difference from A's and whether it is significant (all tests adjusted together)."""
    history.check_side_by_side(len(experiment_ids))
    found = [
        await experiments.get(session, experiment_id, workspace_id=viewer.workspace_id, runs=0)
        for experiment_id in experiment_ids
    ]
    table = await history.side_by_side(session, found)
    return render(
        request,
        "experiments/side_by_side.html",
        **_context(viewer, found[0]),
        table=table,
        letters=[chr(ord("A") + n) for n in range(len(found))],
    )
