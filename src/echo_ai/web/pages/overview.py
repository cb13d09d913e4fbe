"""The overview (``/``): every experiment of the workspace with its latest visibility, the
change since the previous run (marked when significant), a sparkline of its history, its
status and schedule, and what the workspace spent this month; the demo experiment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.pagination import Cursor, aware_time, decode_cursor, encode_cursor
from echo_ai.db import utcnow
from echo_ai.experiments import overview
from echo_ai.experiments import service as experiments
from echo_ai.experiments.schemas import ExperimentCreate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, WriteViewer

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25

DEMO_ITERATIONS = 200
DEMO = {
    "name": "Demo: best CRM for a small startup",
    "prompt": "What is the best CRM for a 10-person startup? Give me your top recommendations.",
    "providers": ["demo"],
    "iterations": DEMO_ITERATIONS,
    "temperature": 1.0,
    "brands": {
        "target": {"name": "HubSpot", "aliases": ["HubSpot CRM"], "domains": ["hubspot.com"]},
        "competitors": [
            {
                "name": "Salesforce",
                "aliases": ["Salesforce Sales Cloud"],
                "domains": ["salesforce.com"],
            },
            {"name": "Pipedrive", "domains": ["pipedrive.com"]},
            {"name": "Zoho CRM", "aliases": ["Zoho"], "domains": ["zoho.com"]},
            {
                "name": "Close",
                "case_sensitive": True,
                "exclude_terms": ["Close the deal", "Close deals", "Close more"],
                "domains": ["close.com"],
            },
            {
                "name": "Monday Sales CRM",
                "aliases": ["monday.com", {"text": "Monday", "case_sensitive": True}],
                "exclude_terms": ["on Monday", "every Monday", "Monday morning"],
                "domains": ["monday.com"],
            },
        ],
    },
    "demo_probabilities": {
        "HubSpot": 0.62,
        "Salesforce": 0.8,
        "Pipedrive": 0.55,
        "Zoho CRM": 0.4,
        "Close": 0.2,
        "Monday Sales CRM": 0.3,
    },
}
"""The experiment of ``examples/crm.toml``, run by the offline demo provider."""

SPARK_WIDTH = 100
SPARK_HEIGHT = 24
SPARK_MARGIN = 2


@dataclass(frozen=True)
class Sparkline:
    points: str
    """The ``points`` of an SVG ``<polyline>`` (0-100% on a fixed vertical scale)."""
    label: str
    """The same history in words, for screen readers and without graphics."""


def sparkline(row: overview.OverviewRow) -> Sparkline | None:
    """The visibility of the complete runs as a line (None before two of them). The
    vertical scale is fixed (0 to 100%) so that noise does not look like a trend."""
    values = [run.rate.value for run in row.complete_runs if run.rate is not None]
    shown = [value for value in values if value is not None]
    if len(shown) < 2:
        return None
    step = SPARK_WIDTH / (len(shown) - 1)
    inner = SPARK_HEIGHT - 2 * SPARK_MARGIN
    coordinates = " ".join(
        f"{index * step:.1f},{SPARK_MARGIN + (1 - value) * inner:.1f}"
        for index, value in enumerate(shown)
    )
    figures = ", ".join(f"{value * 100:.1f}%" for value in shown)
    return Sparkline(
        points=coordinates, label=f"Visibility over the last {len(shown)} runs: {figures}"
    )


def month_start(now: datetime, tz: ZoneInfo) -> datetime:
    """Midnight on the 1st of the current month in the viewer's time zone."""
    local = now.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@router.get("/")
async def overview_page(
    request: Request, viewer: CurrentViewer, session: SessionDep, cursor: Cursor = None
) -> Response:
    before = decode_cursor(cursor, aware_time, uuid.UUID) if cursor is not None else None
    found = await overview.overview_page(
        session, viewer.workspace_id, limit=PAGE_SIZE + 1, before=before
    )
    rows = found[:PAGE_SIZE]
    next_cursor = None
    if len(found) > PAGE_SIZE:
        last = rows[-1].experiment
        next_cursor = encode_cursor(last.created_at.isoformat(), str(last.id))
    since = month_start(utcnow(), viewer.tz)
    spend = await overview.spend_since(session, viewer.workspace_id, since)
    items: list[dict[str, Any]] = [{"row": row, "spark": sparkline(row)} for row in rows]
    return render(
        request,
        "overview.html",
        viewer=viewer,
        items=items,
        next_cursor=next_cursor,
        first_page=cursor is None,
        spend=spend,
        month=since,
        demo_iterations=DEMO_ITERATIONS,
    )


@router.post("/demo")
async def start_demo(
    request: Request, viewer: WriteViewer, session: SessionDep, state: StateDep
) -> Response:
    """Queue the demo experiment (offline, synthetic answers) and show it."""
    queued = await experiments.queue(
        session,
        ExperimentCreate.model_validate(DEMO),
        workspace_id=viewer.workspace_id,
        actor=viewer.actor,
        runtime=state.runtime,
    )
    return see_other(request, f"/experiments/{queued.experiment.id}")
