"""The audit log over HTTP, for workspace owners and admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from echo_ai.api.auth import ManagerPrincipal
from echo_ai.api.deps import SessionDep
from echo_ai.api.errors import AUTH_ERRORS, error_responses
from echo_ai.api.pagination import Cursor, Page, aware_time, decode_cursor, page_of
from echo_ai.privacy import audit
from echo_ai.privacy.schemas import AuditEventOut

router = APIRouter(
    prefix="/v1/audit-events", tags=["audit"], responses=error_responses(*AUTH_ERRORS, 400, 422)
)


@router.get("", response_model=Page[AuditEventOut])
async def list_events(
    principal: ManagerPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Cursor = None,
) -> Page[AuditEventOut]:
    """Security and data events of the workspace, newest first."""
    before = decode_cursor(cursor, aware_time, uuid.UUID) if cursor is not None else None
    found = await audit.page(session, principal.workspace_id, limit=limit + 1, before=before)
    return page_of(
        found,
        limit,
        lambda event: AuditEventOut.model_validate(event, from_attributes=True),
        lambda last: (last.created_at.isoformat(), str(last.id)),
    )
