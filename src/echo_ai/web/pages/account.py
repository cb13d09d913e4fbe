"""Settings › Your data: the signed-in user's exports (ask for one, follow its status,
download it) and the deletion of their account, confirmed by password (and 2FA).

The same use cases as the JSON API (:mod:`echo_ai.api.routers.account`): exports are
prepared in the background and audited when asked for and when downloaded; a signed-in
user downloads their own ready export from this page without the link's token (the
session proves who they are).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from echo_ai.accounts import erasure
from echo_ai.accounts import export as exports
from echo_ai.accounts.schemas import ExportOut
from echo_ai.alerts import erasure as alert_erasure
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.limits import count_confirmation, request_export
from echo_ai.api.session import clear_session_cookies
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.security.rate_limit import RateLimiterDep
from echo_ai.web.forms import form_fields
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, Viewer

router = APIRouter(include_in_schema=False)

NOTICES = {"export": "Your export is being prepared: it appears below when it is ready."}


async def _page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    delete_error: str | None = None,
) -> Response:
    now = utcnow()
    return render(
        request,
        "settings/data.html",
        status_code=status_code,
        viewer=viewer,
        section="data",
        exports=[
            ExportOut.of(export, now=now)
            for export in await exports.list_exports(session, viewer.user.id)
        ],
        preview=await erasure.preview(session, viewer.user),
        two_factor=viewer.user.totp_enabled_at is not None,
        link_hours=state.settings.privacy.export_link_hours,
        notice=NOTICES.get(request.query_params.get("done", "")),
        error=error,
        delete_error=delete_error,
    )


@router.get("/settings/data")
async def your_data(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    return await _page(request, viewer, session, state)


@router.post("/settings/data/export")
async def prepare_export(
    request: Request,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
) -> Response:
    try:
        await request_export(
            session,
            limiter,
            viewer.user,
            prepare_later=state.jobs.prepare_export,
            link_hours=state.settings.privacy.export_link_hours,
            actor=viewer.actor,
        )
    except AppError as refused:
        if refused.status_code not in (409, 429):
            raise
        return await _page(
            request,
            viewer,
            session,
            state,
            status_code=refused.status_code,
            error=refused.message,
        )
    return see_other(request, "/settings/data?done=export")


@router.get("/settings/data/exports/{export_id}/download")
async def download_own_export(
    export_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    export, path = await exports.open_download(
        session,
        viewer.user.id,
        export_id,
        None,
        data_dir=state.settings.data_dir,
        actor=viewer.actor,
    )
    return FileResponse(
        path, media_type="application/zip", filename=f"echo-ai-export-{export.id}.zip"
    )


@router.post("/settings/data/delete")
async def delete_account(
    request: Request,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
) -> Response:
    """Delete the account after its password (and 2FA code); then signed out."""
    fields = await form_fields(request)
    try:
        await count_confirmation(limiter, viewer.user)
        await erasure.erase_confirmed(
            session,
            viewer.user,
            password=fields.get("password", ""),
            code=fields.get("code") or None,
            keys=state.keys,
            data_dir=state.settings.data_dir,
            actor=viewer.actor,
            forget=(alert_erasure.forget_address,),
        )
    except AppError as refused:
        if refused.status_code not in (401, 403, 409, 429):
            raise
        # Refused before anything but the failure's audit event was written (password,
        # 2FA code, a blocking workspace, too many attempts).
        return await _page(
            request,
            viewer,
            session,
            state,
            status_code=429 if refused.status_code == 429 else 422,
            delete_error=refused.message,
        )
    response = see_other(request, "/login?deleted=1")
    clear_session_cookies(response, state.settings)
    return response
