"""HTTP routes of the signed-in user's own account: data exports and deletion."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import FileResponse

from echo_ai.accounts import erasure
from echo_ai.accounts import export as exports
from echo_ai.accounts.schemas import (
    AccountDeletion,
    DeletionPreviewOut,
    ExportOut,
    ExportRequested,
)
from echo_ai.alerts import erasure as alert_erasure
from echo_ai.api import limits
from echo_ai.api.auth import AccountActor, AccountUser
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses, refusal_kept
from echo_ai.api.limits import count_confirmation
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.security.rate_limit import RateLimiterDep
from echo_ai.text import SingleLine

router = APIRouter(tags=["accounts"], responses=error_responses(422))


@router.post(
    "/v1/account/export",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExportRequested,
    responses=error_responses(*AUTH_ERRORS, 409, 429),
)
async def request_export(
    request: Request,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    limiter: RateLimiterDep,
) -> ExportRequested:
    """Ask for a ZIP of everything about you (account, memberships, consents, sessions,
    your audit events, the workspaces you own with their experiments and answers). It is
    prepared in the background: poll ``GET /v1/account/exports/{id}``; the download link
    in this answer works once it is ready, for ``privacy.export_link_hours``. 409 while
    another of your exports is still being prepared; at most 5 accepted a day (429; a
    refused request does not count)."""
    requested = await limits.request_export(
        session,
        limiter,
        user,
        prepare_later=state.jobs.prepare_export,
        link_hours=state.settings.privacy.export_link_hours,
        actor=actor,
    )
    url = request.url_for("account_export_download", export_id=requested.export.id)
    return ExportRequested(
        **ExportOut.of(requested.export, now=utcnow()).model_dump(),
        download_url=str(url.include_query_params(token=requested.token)),
    )


@router.get(
    "/v1/account/exports", response_model=list[ExportOut], responses=error_responses(*AUTH_ERRORS)
)
async def list_exports(user: AccountUser, session: SessionDep) -> list[ExportOut]:
    """Your exports, newest first."""
    now = utcnow()
    return [ExportOut.of(e, now=now) for e in await exports.list_exports(session, user.id)]


@router.get(
    "/v1/account/exports/{export_id}",
    response_model=ExportOut,
    responses=error_responses(*AUTH_ERRORS),
)
async def get_export(export_id: uuid.UUID, user: AccountUser, session: SessionDep) -> ExportOut:
    """One of your exports; ``expired`` once past ``expires_at``."""
    return ExportOut.of(await exports.get(session, user.id, export_id), now=utcnow())


@router.get(
    "/v1/account/exports/{export_id}/download",
    name="account_export_download",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The export's ZIP"},
        **error_responses(*AUTH_ERRORS, 409, 410),
    },
)
async def download_export(
    export_id: uuid.UUID,
    token: Annotated[
        Annotated[str, SingleLine(min_length=1, max_length=200)],
        Query(description="The token of the download link"),
    ],
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
) -> FileResponse:
    """The export's ZIP, with the link's token, for the user who asked (audited). 410
    once the link has expired; 409 while it is being prepared."""
    export, path = await exports.open_download(
        session, user.id, export_id, token, data_dir=state.settings.data_dir, actor=actor
    )
    return FileResponse(
        path, media_type="application/zip", filename=f"echo-ai-export-{export.id}.zip"
    )


@router.get(
    "/v1/account/deletion",
    response_model=DeletionPreviewOut,
    responses=error_responses(*AUTH_ERRORS),
)
async def deletion_preview(user: AccountUser, session: SessionDep) -> DeletionPreviewOut:
    """What deleting your account takes with it (the workspaces you own alone) and what
    blocks it (a workspace with other members where you are the only owner)."""
    return DeletionPreviewOut.of(await erasure.preview(session, user))


@router.delete(
    "/v1/account",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(*BODY_ERRORS, *AUTH_ERRORS, 409, 429),
)
async def delete_account(
    data: AccountDeletion,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    limiter: RateLimiterDep,
) -> Response:
    """Delete your account, confirmed by your password (and a 2FA code when 2FA is on).
    The workspaces you own alone go with it; your sign-ins, tokens and API keys stop
    working at once. 409 names a workspace that needs another owner first."""
    await count_confirmation(limiter, user)
    try:
        await erasure.erase_confirmed(
            session,
            user,
            password=data.password,
            code=data.code,
            keys=state.keys,
            data_dir=state.settings.data_dir,
            actor=actor,
            forget=(alert_erasure.forget_address,),
        )
    except AppError as refused:
        return refusal_kept(refused)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
