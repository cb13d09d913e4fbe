"""Accepting an invitation: ``/invitations/{token}``, the one-time link an owner or admin
passed on. A signed-in user accepts it (with the invited address); a signed-out one is
led to sign in or create an account, then back here (``next``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from echo_ai.api.auth import GuessesDep
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.errors import AppError
from echo_ai.web.forms import validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, OptionalViewer, choose_workspace
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.schemas import InvitationAccept

router = APIRouter(include_in_schema=False)


@router.get("/invitations/{token}")
async def invitation_page(request: Request, token: str, viewer: OptionalViewer) -> Response:
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
        _, workspace = await workspaces.accept(
            session, viewer.user, data.token, actor=viewer.actor, settings=state.settings
        )
    except workspaces.NoSuchInvitation as refusal:
        await guesses.count(refusal.refusal)
        return refused(404, refusal.message)
    except AppError as refusal:
        return refused(refusal.status_code, refusal.message)
    response = see_other(request, "/")
    choose_workspace(response, workspace.id, state.settings)
    return response
