"""Settings → Security and Sessions, and the consent interstitial: the viewer's own
account (the e-mail address and a change of it, two-factor authentication with a QR code
drawn here, recovery codes shown once, the marketing opt-in and consent history, the
workspace's 2FA requirement for its owners) and their sessions with revocation. These
pages stay reachable without 2FA in a workspace that requires it
(:func:`echo_ai.web.viewer.is_account_path`)."""

from __future__ import annotations

import uuid
from typing import Any

import segno
from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from echo_ai.accounts import consent, email_change
from echo_ai.accounts import security as account_security
from echo_ai.api import limits
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.limits import count_confirmation
from echo_ai.api.session import session_cookie_name
from echo_ai.auth import service as accounts
from echo_ai.auth import twofactor
from echo_ai.auth.schemas import EmailChangeRequest
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.security.rate_limit import RateLimited, get_rate_limiter
from echo_ai.web.forms import FORM_ERROR, form_fields, local_path, retry_message, validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.viewer import CurrentViewer, Viewer
from echo_ai.workspaces.models import Role

router = APIRouter(include_in_schema=False)

NOTICES = {
    "disabled": "Two-factor authentication is off.",
    "email-sent": "A link to confirm your new address is on its way to it. Your address "
    "changes once you open it.",
    "marketing-on": "You will receive product news by e-mail.",
    "marketing-off": "You will not receive product news by e-mail any more.",
    "required": "Members of this workspace now need two-factor authentication.",
    "not-required": "Members of this workspace no longer need two-factor authentication.",
    "revoked": "The session was signed out.",
    "revoked-all": "Every other session was signed out.",
}


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG (drawn here: the secret goes to no service)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator app")
    return Markup(svg)  # noqa: S704  (segno's own SVG of our URI, no user markup)


async def _security_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    *,
    status_code: int = 200,
    enrolment: twofactor.Enrolment | None = None,
    codes: list[str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    email_form: dict[str, str] | None = None,
    email_errors: dict[str, str] | None = None,
) -> Response:
    user = viewer.user
    return render(
        request,
        "settings/security.html",
        status_code=status_code,
        viewer=viewer,
        section="security",
        enabled=twofactor.enabled(user),
        codes_left=await twofactor.recovery_codes_left(session, user),
        enrolment=enrolment,
        qr=qr_svg(enrolment.uri) if enrolment else None,
        codes=codes,
        error=error,
        notice=notice,
        is_owner=viewer.role == Role.OWNER,
        history=await consent.history(session, user),
        privacy=state.settings.privacy,
        pending_email=await email_change.pending_change(session, user, now=utcnow()),
        email_form=email_form or {},
        email_errors=email_errors or {},
    )


async def _refused(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    refused: AppError,
    lead: str = "Nothing changed",
    **page: Any,
) -> Response:
    """The page again with why a form was refused: "<lead>: <reason>.", or when to try
    again for a rate limit (with its ``Retry-After``)."""
    reason = (
        f"{lead}. {retry_message(refused)}"
        if isinstance(refused, RateLimited)
        else f"{lead}: {refused.message}."
    )
    response = await _security_page(
        request, viewer, session, state, status_code=refused.status_code, error=reason, **page
    )
    response.headers.update(refused.headers)
    return response


@router.get("/settings/security")
async def security_settings(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""))
    return await _security_page(request, viewer, session, state, notice=notice)


@router.post("/settings/security/2fa/begin")
async def begin_two_factor(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    fields = await form_fields(request)
    try:
        await count_confirmation(get_rate_limiter(request), viewer.user)
        enrolment = await account_security.begin_two_factor(
            session,
            viewer.user,
            password=fields.get("password", ""),
            keys=state.keys,
            actor=viewer.actor,
        )
    except AppError as refused:
        return await _refused(request, viewer, session, state, refused)
    return await _security_page(request, viewer, session, state, enrolment=enrolment)


@router.post("/settings/security/2fa/confirm")
async def confirm_two_factor(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    fields = await form_fields(request)
    try:
        done = await account_security.confirm_two_factor(
            session,
            viewer.user,
            fields.get("code", ""),
            keys=state.keys,
            now=utcnow(),
            actor=viewer.actor,
            settings=state.settings,
            keep=await _current_family(request, session, state),
        )
    except AppError as refused:
        return await _security_page(
            request,
            viewer,
            session,
            state,
            status_code=refused.status_code,
            error="That code did not match: scan the new QR code and try again.",
            enrolment=twofactor.pending(viewer.user, state.keys),
        )
    ended = done.sessions_ended
    return await _security_page(
        request,
        viewer,
        session,
        state,
        codes=done.recovery_codes,
        notice="Two-factor authentication is on. "
        + (
            f"Your other sessions ({ended}) were signed out: they sign in again with a code."
            if ended
            else "Every sign-in from now on asks for a code."
        ),
    )


async def _password_and_code(
    request: Request, viewer: Viewer, session: SessionDep, state: StateDep, *, regenerate: bool
) -> Response:
    fields = await form_fields(request)
    use = (
        account_security.regenerate_recovery_codes
        if regenerate
        else account_security.disable_two_factor
    )
    try:
        await count_confirmation(get_rate_limiter(request), viewer.user)
        codes = await use(
            session,
            viewer.user,
            password=fields.get("password", ""),
            code=fields.get("code", "").strip() or None,
            keys=state.keys,
            now=utcnow(),
            actor=viewer.actor,
            settings=state.settings,
        )
    except AppError as refused:
        return await _refused(request, viewer, session, state, refused)
    if isinstance(codes, list):
        return await _security_page(request, viewer, session, state, codes=codes)
    return see_other(request, "/settings/security?done=disabled")


@router.post("/settings/security/2fa/disable")
async def disable_two_factor(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    return await _password_and_code(request, viewer, session, state, regenerate=False)


@router.post("/settings/security/recovery-codes")
async def regenerate_codes(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    return await _password_and_code(request, viewer, session, state, regenerate=True)


@router.post("/settings/security/email")
async def request_email_change(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    """Ask for a new address (the password, and a code with 2FA on): the link goes to it."""
    fields = await form_fields(request)
    new_email = fields.get("new_email", "")
    again = {"new_email": new_email}
    data = validate(
        EmailChangeRequest,
        {
            "new_email": new_email,
            "password": fields.get("password", ""),
            "code": fields.get("code", "").strip() or None,
        },
    )
    if isinstance(data, dict):
        error = data.pop(FORM_ERROR, None)
        return await _security_page(
            request,
            viewer,
            session,
            state,
            status_code=422,
            error=error,
            email_form=again,
            email_errors=data,
        )
    try:
        await limits.request_email_change(
            session,
            get_rate_limiter(request),
            viewer.user,
            data,
            keys=state.keys,
            actor=viewer.actor,
            settings=state.settings,
        )
    except AppError as refused:
        return await _refused(
            request,
            viewer,
            session,
            state,
            refused,
            "Your address was not changed",
            email_form=again,
        )
    return see_other(request, "/settings/security?done=email-sent")


@router.post("/settings/security/marketing")
async def set_marketing(request: Request, viewer: CurrentViewer, session: SessionDep) -> Response:
    fields = await form_fields(request)
    opt_in = fields.get("opt_in") == "1"
    await consent.set_marketing(session, viewer.user, opt_in, now=utcnow(), actor=viewer.actor)
    return see_other(request, f"/settings/security?done=marketing-{'on' if opt_in else 'off'}")


@router.post("/settings/security/workspace")
async def set_workspace_requirement(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    if viewer.role != Role.OWNER:
        return await _security_page(
            request,
            viewer,
            session,
            state,
            status_code=403,
            error="Only the workspace's owners can change this.",
        )
    fields = await form_fields(request)
    required = fields.get("require_2fa") == "1"
    try:
        await account_security.set_workspace_requirement(
            session, viewer.workspace, viewer.user, required, actor=viewer.actor
        )
    except AppError as refused:
        return await _refused(request, viewer, session, state, refused)
    return see_other(
        request, f"/settings/security?done={'required' if required else 'not-required'}"
    )


async def _current_family(
    request: Request, session: SessionDep, state: StateDep
) -> uuid.UUID | None:
    cookie = request.cookies.get(session_cookie_name(state.settings))
    found = await accounts.session_user(session, cookie) if cookie else None
    return found[1] if isinstance(found, tuple) else None


@router.get("/settings/sessions")
async def sessions_settings(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    current = await _current_family(request, session, state)
    found = await account_security.list_sessions(session, viewer.user, now=utcnow())
    return render(
        request,
        "settings/sessions.html",
        viewer=viewer,
        section="sessions",
        sessions=found,
        current=current,
        notice=NOTICES.get(request.query_params.get("done", "")),
    )


@router.post("/settings/sessions/revoke-all")
async def revoke_all_sessions(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    keep = await _current_family(request, session, state)
    await account_security.revoke_all_sessions(
        session, viewer.user, now=utcnow(), actor=viewer.actor, keep=keep
    )
    return see_other(request, "/settings/sessions?done=revoked-all")


@router.post("/settings/sessions/{session_id}/revoke")
async def revoke_session(
    session_id: uuid.UUID, request: Request, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await account_security.revoke_session(
        session, viewer.user, session_id, now=utcnow(), actor=viewer.actor
    )
    return see_other(request, "/settings/sessions?done=revoked")


def _consent_page(request: Request, viewer: Viewer, state: StateDep, next_path: str) -> Response:
    context: dict[str, Any] = {
        "viewer": viewer,
        "privacy": state.settings.privacy,
        "next": next_path,
    }
    return render(request, "consent.html", **context)


@router.get("/consent")
async def consent_page(
    request: Request, viewer: CurrentViewer, state: StateDep, next: str | None = None
) -> Response:
    return _consent_page(request, viewer, state, local_path(next))


@router.post("/consent")
async def accept_consent(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    fields = await form_fields(request)
    target = local_path(fields.get("next"))
    if fields.get("accept") != "on":
        return _consent_page(request, viewer, state, target)
    await consent.accept(
        session, viewer.user, privacy=state.settings.privacy, now=utcnow(), actor=viewer.actor
    )
    return see_other(request, target)
