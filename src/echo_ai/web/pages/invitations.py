"""Accepting an invitation: ``/invitations/{token}``, the one-time link an owner or admin
passed on. A signed-in user accepts it (with the invited address); a signed-out one is
led to sign in or create an account, then back here (``next``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from echo_ai.api.auth import GuessesDep
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.session import session_cookie_name
from echo_ai.auth import service as accounts
from echo_ai.errors import AppError
from echo_ai.web.forms import validate
from echo_ai.web.rendering import render
from echo_ai.web.viewer import WORKSPACE_COOKIE, CurrentViewer, current_viewer
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.schemas import InvitationAccept

router = APIRouter(include_in_schema=False)


@router.get("/invitations/{token}")
async def invitation_page(
    request: Request, token: str, state: StateDep, session: SessionDep
) -> Response:
    cookie = request.cookies.get(session_cookie_name(state.settings))
    signed_in = cookie is not None and isinstance(
        await accounts.session_user(session, cookie), tuple
    )
    viewer = await current_viewer(request, state, session) if signed_in else None
    return render(
        request,
        "invitation.html",
        viewer=viewer,
        token=token,
        here=request.url.path,
        error=None,
    )


@router.post("/invitations/{token}")
async def accept_invitation(
    request: Request,
    token: str,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
    guesses: GuessesDep,
) -> Response:
    """Join the workspace, then show it (it is chosen in the switcher)."""

    def refused(status_code: int, message: str) -> Response:
        return render(
            request,
            "invitation.html",
            status_code=status_code,
            viewer=viewer,
            token=token,
            here=request.url.path,
            error=message,
        )

    data = validate(InvitationAccept, {"token": token})
    if isinstance(data, dict):
        return refused(404, workspaces.NO_SUCH_INVITATION)
    try:
        _, workspace = await workspaces.accept(session, viewer.user, data.token, actor=viewer.actor)
    except workspaces.NoSuchInvitation as refusal:
        await guesses.count(refusal.refusal)
        return refused(404, refusal.message)
    except AppError as refusal:
        return refused(refusal.status_code, refusal.message)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        WORKSPACE_COOKIE,
        str(workspace.id),
        max_age=365 * 24 * 3600,
        path="/",
        samesite="lax",
        httponly=True,
        secure=state.settings.server.https,
    )
    return response
