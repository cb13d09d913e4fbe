"""HTTP routes of experiments: parse, call the service, shape the response."""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.extraction import Extraction
from echo_ai.analysis.metrics import BatchMetrics
from echo_ai.api.auth import CurrentPrincipal, PrincipalActor, WritePrincipal
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses
from echo_ai.api.pagination import aware_time, decode_cursor, encode_cursor, row_index
from echo_ai.experiments import export
from echo_ai.experiments import service as experiments
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.experiments.views import BatchRunOut, ExperimentDetail, ExperimentOut
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action
from echo_ai.runs.models import ExperimentStatus, Iteration

router = APIRouter(
    prefix="/v1/experiments", tags=["experiments"], responses=error_responses(*AUTH_ERRORS, 422)
)

MAX_PAGE = 100


class ExperimentPage(BaseModel):
    items: list[ExperimentOut]
    next_cursor: str | None


class MentionOut(BaseModel):
    brand: str
    term: str
    start: int
    end: int
    """Offsets into ``answer``: ``answer[start:end]`` is the matched text (to highlight)."""


class IterationOut(BaseModel):
    batch_run_id: uuid.UUID
    index: int
    success: bool
    answer: str | None
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
    def of(cls, iteration: Iteration) -> IterationOut:
        extraction = Extraction.from_dict(iteration.extraction) if iteration.extraction else None
        return cls(
            batch_run_id=iteration.batch_run_id,
            index=iteration.index,
            success=iteration.success,
            answer=iteration.answer,
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


class IterationPage(BaseModel):
    items: list[IterationOut]
    next_cursor: str | None


class IterationExport(BaseModel):
    experiment_id: uuid.UUID
    items: list[IterationOut]


class RescoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brands: BrandSet | None = None
    """New brand definitions; omitted: re-score with the current ones."""


PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE)]
EXPORT_PAGE = 1_000


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExperimentDetail,
    responses=error_responses(*BODY_ERRORS),
)
async def create_experiment(
    data: ExperimentCreate,
    principal: WritePrincipal,
    session: SessionDep,
    state: StateDep,
    actor: PrincipalActor,
) -> ExperimentDetail:
    """Queue an experiment: one batch run per provider. Work starts once it is stored."""
    created = await experiments.queue(
        session,
        data,
        workspace_id=principal.workspace_id,
        actor=actor,
        runtime=state.runtime,
    )
    return ExperimentDetail.of_report(await experiments.load_report(session, created.id))


@router.get("", response_model=ExperimentPage, responses=error_responses(400))
async def list_experiments(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: PageSize = 20,
    status_filter: Annotated[ExperimentStatus | None, Query(alias="status")] = None,
    scheduled: Annotated[
        bool | None, Query(description="Only experiments with (true) or without a schedule.")
    ] = None,
    cursor: str | None = None,
) -> ExperimentPage:
    before = decode_cursor(cursor, aware_time, uuid.UUID) if cursor is not None else None
    found = await experiments.list_recent(
        session,
        limit=limit + 1,
        status=status_filter,
        workspace_id=principal.workspace_id,
        scheduled=scheduled,
        before=before,
    )
    page = found[:limit]
    items = [
        ExperimentOut.of(e, [BatchRunOut.of(b, None) for b in experiments.latest_batches(e)])
        for e in page
    ]
    last = page[-1] if len(found) > limit else None
    return ExperimentPage(
        items=items,
        next_cursor=encode_cursor(last.created_at.isoformat(), str(last.id)) if last else None,
    )


@router.get("/{experiment_id}", response_model=ExperimentDetail)
async def get_experiment(
    experiment_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> ExperimentDetail:
    """Status, per-provider metrics with intervals, and all providers combined, of the
    latest run; earlier runs (up to 19) in ``history``, older ones from ``/runs``."""
    experiment = await experiments.get(
        session,
        experiment_id,
        workspace_id=principal.workspace_id,
        runs=experiments.RECENT_RUNS,
    )
    return ExperimentDetail.of_report(await experiments.report(session, experiment))


class RunPage(BaseModel):
    items: list[BatchRunOut]
    """Batch runs, newest run first (one per provider in each run)."""
    next_cursor: str | None


@router.get("/{experiment_id}/runs", response_model=RunPage, responses=error_responses(400))
async def list_runs(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Runs per page.")] = 20,
    cursor: str | None = None,
) -> RunPage:
    """Every run of the experiment with its metrics: a recurring experiment over time."""
    experiment = await experiments.get(
        session, experiment_id, workspace_id=principal.workspace_id, runs=0
    )
    before = decode_cursor(cursor, row_index)[0] if cursor is not None else None
    batches = await experiments.run_history(session, experiment, limit=limit, before_round=before)
    oldest = min((batch.round for batch in batches), default=1)
    return RunPage(
        items=[
            BatchRunOut.of(b, BatchMetrics.model_validate(b.metrics) if b.metrics else None)
            for b in batches
        ],
        next_cursor=encode_cursor(str(oldest)) if oldest > 1 else None,
    )


@router.get(
    "/{experiment_id}/iterations", response_model=IterationPage, responses=error_responses(400)
)
async def list_iterations(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: PageSize = 50,
    cursor: str | None = None,
) -> IterationPage:
    """Every answer with where each brand was found (offsets to highlight)."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    after = decode_cursor(cursor, uuid.UUID, row_index) if cursor is not None else None
    found = await experiments.iterations_page(session, experiment, limit=limit + 1, after=after)
    page = found[:limit]
    last = page[-1] if len(found) > limit else None
    return IterationPage(
        items=[IterationOut.of(iteration) for iteration in page],
        next_cursor=encode_cursor(str(last.batch_run_id), str(last.index)) if last else None,
    )


@router.get(
    "/{experiment_id}/export.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_experiment(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    actor: PrincipalActor,
) -> Response:
    """Every iteration as CSV (answers included)."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    out = io.StringIO()
    rows = await export.write_csv(session, experiment, out)
    await audit.record(
        session,
        Action.EXPORTED,
        actor=actor,
        workspace_id=principal.workspace_id,
        target_type="experiment",
        target_id=experiment.id,
        details={"format": "csv", "rows": rows},
    )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="experiment-{experiment.id}.csv"'},
    )


@router.get("/{experiment_id}/export.json", response_model=IterationExport)
async def export_experiment_json(
    experiment_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    actor: PrincipalActor,
    response: Response,
) -> IterationExport:
    """Every iteration as JSON, with the fields of the iterations listing."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    items: list[IterationOut] = []
    after: tuple[uuid.UUID, int] | None = None
    while True:
        page = await experiments.iterations_page(
            session, experiment, limit=EXPORT_PAGE, after=after
        )
        items.extend(IterationOut.of(iteration) for iteration in page)
        if len(page) < EXPORT_PAGE:
            break
        after = (page[-1].batch_run_id, page[-1].index)
    await audit.record(
        session,
        Action.EXPORTED,
        actor=actor,
        workspace_id=principal.workspace_id,
        target_type="experiment",
        target_id=experiment.id,
        details={"format": "json", "rows": len(items)},
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="experiment-{experiment.id}.json"'
    )
    return IterationExport(experiment_id=experiment.id, items=items)


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
    responses=error_responses(400),
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
    created = await experiments.rerun(
        session,
        original,
        actor=actor,
        runtime=state.runtime,
    )
    return ExperimentDetail.of_report(await experiments.load_report(session, created.id))


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
    """Re-score the stored answers (with new brand definitions if given); no provider is
    called. Each batch keeps its previous metrics in its history."""
    experiment = await experiments.get(session, experiment_id, workspace_id=principal.workspace_id)
    await experiments.rescore(
        session, experiment, actor=actor, brands=data.brands if data else None
    )
    return ExperimentDetail.of_report(await experiments.load_report(session, experiment_id))


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
