"""The usage page (``/settings/usage``): the workspace's plan, each of its limits, what is
used of it and what is left this month. Any member may read it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.db import utcnow
from echo_ai.web.rendering import render
from echo_ai.web.viewer import CurrentViewer
from echo_ai.workspaces import quotas

router = APIRouter(include_in_schema=False)

LABELS = {
    "iterations_per_month": (
        "Iterations this month",
        "stored this month, plus queued or running",
    ),
    "max_iterations_in_flight": ("Iterations in flight", "queued or running at once"),
    "scheduled_experiments": ("Experiments with a schedule", "paused ones included"),
    "members": ("Members", "pending invitations included"),
}
"""How the page names each limit of :class:`~echo_ai.workspaces.quotas.Usage`."""


@router.get("/settings/usage")
async def usage_page(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    usage = await quotas.usage_of(
        session, viewer.workspace_id, now=utcnow(), settings=state.settings
    )
    shown = quotas.UsageOut.of(usage)
    rows = [
        {
            "name": quota.name,
            "label": LABELS[quota.name][0],
            "hint": LABELS[quota.name][1],
            "used": quota.used,
            "limit": quota.limit,
            "left": quota.left,
        }
        for quota in shown.quotas
    ]
    return render(
        request,
        "settings/usage.html",
        viewer=viewer,
        section="usage",
        usage=shown,
        rows=rows,
    )
