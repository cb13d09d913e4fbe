"""HTTP routes of experiments: parse, call the service, shape the response."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from echo_ai.analysis.metrics import BatchMetrics
from echo_ai.analysis.significance import BASELINE_RUNS
from echo_ai.api.auth import CurrentPrincipal, PrincipalActor, WritePrincipal
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.api.pagination import (
    Cursor,
    InvalidCursor,
    Page,
    aware_time,
    decode_cursor,
    encode_cursor,
    page_of,
    row_index,
)
from echo_ai.billing.estimate import EstimateOut, estimate_with_history
from echo_ai.db import utcnow
from echo_ai.experiments import discovered as discovery
from echo_ai.experiments import export, history, sentiment_judge
from echo_ai.experiments import service as experiments
from echo_ai.experiments.judge_schemas import (
    JudgeEstimateOut,
    JudgeProvider,
    SentimentJudgeIn,
    SentimentJudgeOut,
)
from echo_ai.experiments.schemas import (
    AddCompetitorIn,
    BatchRunOut,
    ChangeTestsOut,
    DiscoveredOut,
    ExperimentComparisonOut,
    ExperimentCreate,
    ExperimentDetail,
    ExperimentOut,
    IterationExport,
    IterationOut,
    RescoreIn,
    RunChangesOut,
    RunComparisonOut,
    SideBySideOut,
)
from echo_ai.runs.models import ExperimentStatus

router = APIRouter(
    prefix="/v1/experiments", tags=["experiments"], responses=error_responses(*AUTH_ERRORS, 422)
)

MAX_PAGE = 100


PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE)]
MAX_BASELINE_RUNS = 20
BaselineRuns = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_BASELINE_RUNS,
        description="How many previous runs the baseline pools (the complete ones).",
    ),
]
RunNumber = Annotated[int, Query(ge=1, le=2**31 - 1)]


class ExperimentQueued(ExperimentDetail):
    estimate: EstimateOut
    """What the run is estimated to cost (each model priced on its typical answer in the
    workspace's past runs, else on an assumed one)."""


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExperimentQueued,
    responses=error_responses(*BODY_ERRORS, 402, 403),
)
async def create_experiment(
    data: ExperimentCreate,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> ExperimentQueued:
    """Queue an experiment: one batch run per provider. Work starts once it is stored.
    The response carries the run's cost estimate (``POST /v1/experiments/estimate`` gives
    it without storing anything)."""
    queued = await experiments.queue(
        session,
        data,
        workspace_id=principal.workspace_id,
        actor=actor,
        runtime=state.runtime,
    )
    report = await experiments.load_report(session, queued.experiment.id)
    detail = ExperimentDetail.of_report(report)
    return ExperimentQueued(**dict(detail), estimate=EstimateOut.of(queued.estimate))


async def _estimate(
    session: SessionDep, data: ExperimentCreate, workspace_id: uuid.UUID
) -> EstimateOut:
    return EstimateOut.of(
        await estimate_with_history(
            session,
            data.prompt,
            data.provider_specs,
            data.iterations,
            grounding=data.grounding,
            workspace_id=workspace_id,
        )
    )


@router.post("/estimate", response_model=EstimateOut, responses=error_responses(*BODY_ERRORS))
async def estimate_experiment(
    data: ExperimentCreate, principal: CurrentPrincipal, session: SessionDep
) -> EstimateOut:
    """What queueing this experiment would cost (a dry run: nothing is stored or sent).
    The same body as ``POST /v1/experiments``."""
    return await _estimate(session, data, principal.workspace_id)


@router.get("", response_model=Page[ExperimentOut], responses=error_responses(400))
async def list_experiments(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: PageSize = 20,
    status_filter: Annotated[ExperimentStatus | None, Query(alias="status")] = None,
    scheduled: Annotated[
        bool | None, Query(description="Only experiments with (true) or without a schedule.")
    ] = None,
    cursor: Cursor = None,
) -> Page[ExperimentOut]:
    """The workspace's experiments, newest first, each with its latest run's batch runs."""
    before = decode_cursor(cursor, aware_time, uuid.UUID) if cursor is not None else None
    found = await experiments.list_recent(
        session,
        limit=limit + 1,
        status=status_filter,
        workspace_id=principal.workspace_id,
        scheduled=scheduled,
        before=before,
    )
    return page_of(
        found,
        limit,
        lambda e: ExperimentOut.of(
            e, [BatchRunOut.of(b, None) for b in experiments.latest_batches(e)]
        ),
        lambda e: (e.created_at.isoformat(), str(e.id)),
    )


@router.get("/side-by-side", response_model=SideBySideOut, responses=error_responses(400, 404))
async def side_by_side(
    principal: CurrentPrincipal,
    session: SessionDep,
    experiment_ids: Annotated[
        list[uuid.UUID],
        Query(
            alias="id",
            min_length=2,
            max_length=history.SIDE_BY_SIDE_MAX,
            description=(
                f"The experiments, A (the reference) first: from 2 to "
                f"{history.SIDE_BY_SIDE_MAX}, repeated (`?id=A&id=B&id=C`)."
            ),
        ),
    ],
) -> SideBySideOut:
    """Several experiments tracking the same target brand side by side, their latest runs:
    typically one question asked as several personas or from several places. Each rate
    of B, C, ... (per provider and pooled) is tested against A's and every test is
    adjusted together (Benjamini–Hochberg, 5%): the false discovery rate is controlled
    across the whole table. ``differences`` says how each asked differently from A."""
    found = [
        await experiments.get(session, experiment_id, workspace_id=principal.workspace_id, runs=0)
        for experiment_id in experiment_ids
    ]
    return (await history.side_by_side(session, found)).out()


@router.get("/{experiment_id}", response_model=ExperimentDetail)
async def get_experiment(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    baseline_runs: BaselineRuns = BASELINE_RUNS,
) -> ExperimentDetail:
    """Status, per-provider metrics with intervals, and all providers combined, of the
    latest run; earlier runs (up to 19) in ``history``, older ones from ``/runs``; in
    ``changes``, the latest run tested against the previous run and its baseline."""
    experiment = await experiments.get(
        session,
        experiment_id,
        workspace_id=principal.workspace_id,
        runs=experiments.RECENT_RUNS,
    )
    report = await experiments.report(session, experiment)
    tested = await history.run_significance(session, experiment, baseline_runs=baseline_runs)
    return ExperimentDetail.of_report(report, tested[0] if tested else None)


RunsPerPage = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Runs per page.")]


def _round_before(cursor: str | None) -> int | None:
    """The run a page of runs (newest first) continues before, from its cursor."""
    return decode_cursor(cursor, row_index)[0] if cursor is not None else None


def _next_round_cursor(rounds: Iterable[int]) -> str | None:
    """The cursor of the page after one holding these runs (None after run 1)."""
    oldest = min(rounds, default=1)
    return encode_cursor(str(oldest)) if oldest > 1 else None


@router.get(
    "/{experiment_id}/runs", response_model=Page[BatchRunOut], responses=error_responses(400)
)
async def list_runs(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: RunsPerPage = 20,
    cursor: Cursor = None,
) -> Page[BatchRunOut]:
    """Every run of the experiment with its metrics: a recurring experiment over time.
    Batch runs, newest run first (one per provider in each run)."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=principal.workspace_id, runs=0
    )
    before = _round_before(cursor)
    batches = await experiments.run_history(session, experiment, limit=limit, before_round=before)
    return Page(
        items=[
            BatchRunOut.of(b, BatchMetrics.model_validate(b.metrics) if b.metrics else None)
            for b in batches
        ],
        next_cursor=_next_round_cursor(batch.round for batch in batches),
    )


@router.get(
    "/{experiment_id}/changes",
    response_model=Page[RunChangesOut],
    responses=error_responses(400),
)
async def list_changes(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: RunsPerPage = 20,
    cursor: Cursor = None,
    baseline_runs: BaselineRuns = BASELINE_RUNS,
) -> Page[RunChangesOut]:
    """Every run, newest first, with each rate (visibility, each brand's mention rate,
    top-1, top-3, citation rate; per provider and all providers pooled) tested against
    the previous complete run and against the baseline (the complete runs among the
    previous ``baseline_runs``, pooled); the false discovery rate of each comparison is
    controlled (Benjamini–Hochberg, 5%)."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=principal.workspace_id, runs=0
    )
    before = _round_before(cursor)
    newest = experiment.runs if before is None else before - 1
    tested = await history.run_significance(
        session,
        experiment,
        newest=newest,
        count=min(limit, max(newest, 0)),
        baseline_runs=baseline_runs,
    )
    return Page(
        items=[RunChangesOut.of(run) for run in tested],
        next_cursor=_next_round_cursor(run.round for run in tested),
    )


@router.get(
    "/{experiment_id}/compare", response_model=RunComparisonOut, responses=error_responses(400, 404)
)
async def compare_two_runs(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    a: RunNumber,
    b: RunNumber,
) -> RunComparisonOut:
    """Run ``a`` against run ``b``: every rate of both runs (per provider and pooled)
    tested together, the false discovery rate controlled (Benjamini–Hochberg, 5%)."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=principal.workspace_id, runs=0
    )
    pair = await history.run_pair(session, experiment, a, b)
    return RunComparisonOut(
        a=a,
        b=b,
        synthetic=pair.first.synthetic or pair.second.synthetic,
        changes=ChangeTestsOut.of(pair.comparison.tests, [a]),
    )


@router.get(
    "/{experiment_id}/versus/{other_id}",
    response_model=ExperimentComparisonOut,
    responses=error_responses(400, 404),
)
async def compare_two_experiments(
    experiment_id: uuid.UUID, other_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> ExperimentComparisonOut:
    """This experiment's latest run (A) against another's (B) tracking the same target
    brand: typically the same question asked as two personas or from two places. Every
    rate of both (per provider and pooled) is tested together, the false discovery rate
    controlled (Benjamini–Hochberg, 5%); ``differences`` says how the two asked."""
    first = await experiments.get(
        session, experiment_id, workspace_id=principal.workspace_id, runs=0
    )
    second = await experiments.get(session, other_id, workspace_id=principal.workspace_id, runs=0)
    return (await history.experiment_pair(session, first, second)).out()


@router.get(
    "/{experiment_id}/iterations",
    response_model=Page[IterationOut],
    responses=error_responses(400),
)
async def list_iterations(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    actor: PrincipalActor,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[IterationOut]:
    """Every answer with where each brand was found (offsets to highlight), run by run.
    Each page read is recorded in the audit log (``experiment.iterations_read``)."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    after = decode_cursor(cursor, uuid.UUID, row_index) if cursor is not None else None
    if after is not None and after[0] not in {batch.id for batch in experiment.batch_runs}:
        raise InvalidCursor
    found = await experiments.iterations_page(session, experiment, limit=limit + 1, after=after)
    await export.record_read(session, experiment, min(len(found), limit), actor=actor)
    return page_of(
        found, limit, IterationOut.of, lambda last: (str(last.batch_run_id), str(last.index))
    )


@router.get(
    "/{experiment_id}/export.{fmt}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/json": {"schema": IterationExport.model_json_schema()},
                "application/x-ndjson": {},
            },
            "description": "csv: one row per iteration; json: one document (items as in the "
            "iterations listing); jsonl: one such item per line. Columns: docs/exports.md.",
        }
    },
)
async def export_experiment(
    experiment_id: uuid.UUID,
    fmt: export.Format,
    principal: CurrentPrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> StreamingResponse:
    """Every iteration (answers included) as CSV, JSON or JSON Lines, streamed. The export is
    audited in the request's transaction, committed before the first byte is sent; the rows
    are read in sessions of their own while they are sent."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    source = await export.begin(session, experiment, fmt, actor=actor)
    body = export.chunks(state.runtime.session_factory, source, fmt)
    return StreamingResponse(
        (text async for text, _ in body),
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="experiment-{experiment.id}.{fmt}"'},
    )


@router.post(
    "/{experiment_id}/cancel", response_model=ExperimentDetail, responses=error_responses(409)
)
async def cancel_experiment(
    experiment_id: uuid.UUID,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> ExperimentDetail:
    """Stop a queued or running experiment: no new call starts (calls in flight finish and
    are stored); the iterations stored so far stay."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    await experiments.cancel(session, experiment, actor=actor, executor=state.runtime.executor)
    return ExperimentDetail.of_report(await experiments.load_report(session, experiment_id))


@router.post(
    "/{experiment_id}/rerun",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExperimentDetail,
    responses=error_responses(400, 402, 403),
)
async def rerun_experiment(
    experiment_id: uuid.UUID,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> ExperimentDetail:
    """Queue a new experiment with the same configuration. Work starts once it is stored."""
    original = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    queued = await experiments.rerun(
        session,
        original,
        actor=actor,
        runtime=state.runtime,
    )
    return ExperimentDetail.of_report(await experiments.load_report(session, queued.experiment.id))


@router.post(
    "/{experiment_id}/rescore",
    response_model=ExperimentDetail,
    responses=error_responses(*BODY_ERRORS, 409),
)
async def rescore_experiment(
    experiment_id: uuid.UUID,
    principal: WritePrincipal,
    session: SessionDep,
    actor: PrincipalActor,
    data: RescoreIn | None = None,
) -> ExperimentDetail:
    """Re-score the stored answers (with new brand definitions if given): mentions, ranks,
    citations and each brand's sentiment; no provider is called. Each batch keeps its
    previous metrics in its history."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    await experiments.rescore(
        session, experiment, actor=actor, brands=data.brands if data else None
    )
    return ExperimentDetail.of_report(await experiments.load_report(session, experiment_id))


@router.get(
    "/{experiment_id}/sentiment-judge/estimate",
    response_model=JudgeEstimateOut,
    responses=error_responses(400, 404),
)
async def sentiment_judge_estimate(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    provider: Annotated[JudgeProvider, Query(description="The judge, ``vendor:model``.")],
    run: Annotated[
        int | None, Query(ge=1, description="The run to judge (default: the latest).")
    ] = None,
) -> JudgeEstimateOut:
    """What judging a run's sentiment with ``provider`` would ask (one call per complete
    answer naming a tracked brand) and about what it costs at most, before it starts. A
    judging covers one run, all its complete answers, up to ``limit``. Cheap at any size:
    the answers are counted from the batches' counters and the cost worked out from the run's first
    ``cost_from``."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    return await sentiment_judge.estimate(
        session, experiment, sentiment_judge.parse_provider(provider), run=run
    )


@router.post(
    "/{experiment_id}/sentiment-judge",
    response_model=SentimentJudgeOut,
    status_code=202,
    responses=error_responses(*BODY_ERRORS, 402, 409),
)
async def judge_sentiment(
    experiment_id: uuid.UUID,
    data: SentimentJudgeIn,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> SentimentJudgeOut:
    """Judge the sentiment of a finished run's stored answers with a model, in the
    background (structured output; no new answers): 202 with the judging ``queued``; poll
    ``GET /v1/experiments/{id}/sentiment-judge`` for its progress. Each answer's brands
    get the judge's label and score (``scorer`` ``judge:vendor:model``), or keep the
    lexicon's where the judge's output was invalid or the call failed (counted in
    ``failed``). A judging covers one run (``run``, default the latest), all its complete
    answers; a run with more than the estimate's ``limit`` is refused (409). The estimate
    is checked against the budgets first (402 ``budget_exhausted`` / ``price_unknown``)
    and each call again; they use the workspace's stored key when it has one, and count in
    the month's spend ("Sentiment judge" in cost reports). 409 while the experiment runs,
    while another judging of it is queued or running, or with nothing to judge. A
    re-score goes back to the lexicon."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    judging = await sentiment_judge.start(
        session,
        state.runtime,
        experiment,
        sentiment_judge.parse_provider(data.provider),
        actor=actor,
        now=utcnow(),
        run=data.run,
        judge_later=state.jobs.judge_sentiment,
    )
    return sentiment_judge.out_of(judging)


@router.get(
    "/{experiment_id}/sentiment-judge",
    response_model=SentimentJudgeOut,
    responses=error_responses(404),
)
async def get_sentiment_judging(
    experiment_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> SentimentJudgeOut:
    """The experiment's last sentiment judging: its status (``queued``, ``running``,
    ``completed``, ``stopped``, ``failed``), progress (``read`` of ``answers``), counts and
    cost so far. 404 when it was never judged."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    return sentiment_judge.out_of(await sentiment_judge.latest(session, experiment.id))


@router.post(
    "/{experiment_id}/sentiment-judge/stop",
    response_model=SentimentJudgeOut,
    responses=error_responses(404, 409),
)
async def stop_sentiment_judging(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep
) -> SentimentJudgeOut:
    """Stop the experiment's judging: one still queued at once, a running one after the
    answers in flight (``stop_requested`` until then); what was judged is kept and counts
    in the run's figures. 409 when none is queued or running."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    judging = await sentiment_judge.request_stop(session, experiment, now=utcnow())
    return sentiment_judge.out_of(judging)


@router.get(
    "/{experiment_id}/discovered",
    response_model=DiscoveredOut,
    responses=error_responses(404),
)
async def list_discovered(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    run: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="The run (default: the latest)."),
    ] = None,
) -> DiscoveredOut:
    """Who else gets recommended: brands and products the answers of a run name that the
    experiment does not track, with their mention rates and 95% intervals (pooled and per
    provider), named in at least two answers; read from stored metrics."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=principal.workspace_id, runs=0
    )
    report = await discovery.discovered(session, experiment, run=run)
    return DiscoveredOut.of(report, min_answers=discovery.MIN_ANSWERS)


@router.post(
    "/{experiment_id}/competitors",
    response_model=ExperimentDetail,
    responses=error_responses(*BODY_ERRORS, 409),
)
async def add_competitor(
    experiment_id: uuid.UUID,
    data: AddCompetitorIn,
    principal: WritePrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> ExperimentDetail:
    """Track a name (typically a discovered one) as a competitor, then re-score every
    stored answer with it; no provider is called. Without ``aliases``, the spellings found
    in the answers become its aliases. A name already tracked is a 409, and so is an
    experiment still running or whose answers the retention policy redacted."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    await discovery.add_competitor(
        session, experiment, name=data.name, aliases=data.aliases, actor=actor
    )
    return ExperimentDetail.of_report(await experiments.load_report(session, experiment_id))


@router.post(
    "/{experiment_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExperimentDetail,
    responses=error_responses(402, 403, 409),
)
async def resume_experiment(
    experiment_id: uuid.UUID,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> ExperimentDetail:
    """Run what the latest run lacks (missing and failed iterations; a batch stopped by
    the budget goes on), admitted as a new run is: 403 ``plan_forbids_provider`` for a
    vendor the plan leaves out; 402 ``quota_exceeded`` past the plan's iterations per run,
    per month or in flight, ``budget_exhausted`` while the budget left this month does not
    cover the estimate of what it would run, ``price_unknown`` for a model without a price
    under a budget; 409 while a process still runs one of its batches. Nothing to run
    again: the experiment as it is."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    await experiments.resume(session, experiment, actor=actor, runtime=state.runtime)
    return ExperimentDetail.of_report(await experiments.load_report(session, experiment.id))


@router.delete(
    "/{experiment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(409),
)
async def delete_experiment(
    experiment_id: uuid.UUID, principal: WritePrincipal, session: SessionDep, actor: PrincipalActor
) -> Response:
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    await experiments.delete(session, experiment, actor=actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
