"""HTTP route of a workspace's usage this month: what it stored, has in flight and spent,
against its plan's limits."""

from __future__ import annotations

from fastapi import APIRouter

from echo_ai.api.auth import CurrentPrincipal
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, error_responses
from echo_ai.db import utcnow
from echo_ai.workspaces import quotas
from echo_ai.workspaces.quotas import UsageOut

router = APIRouter(prefix="/v1/usage", tags=["usage"], responses=error_responses(*AUTH_ERRORS))


@router.get("", response_model=UsageOut)
async def get_usage(principal: CurrentPrincipal, session: SessionDep, state: StateDep) -> UsageOut:
    """The workspace's use of its plan this calendar month (UTC), any member may read it:
    iterations stored and in flight, their cost, members, experiments with a schedule, and
    each limit of the plan with what is left."""
    usage = await quotas.usage_of(
        session, principal.workspace_id, now=utcnow(), settings=state.settings
    )
    return UsageOut.of(usage)
