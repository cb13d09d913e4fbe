"""Settings of the current workspace: its name and plan (and new team workspaces), members
and invitations, API keys, and the audit log.

Every write calls the use case the JSON API calls, with the same role rules (managers:
owners and admins) and rate limits. A new API key is shown once, on the page its form
redirects to (:mod:`echo_ai.web.reveal`): a reload makes no second key and shows it no
more; only its digest is stored. An invitation link is shown in the answer to the form
that made it.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from echo_ai.api import limits
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.limits import KEYS_CREATED_PER_WORKSPACE
from echo_ai.api.pagination import Cursor, aware_time, decode_cursor, encode_cursor
from echo_ai.api_keys import members as member_changes
from echo_ai.api_keys import service as api_keys
from echo_ai.api_keys.schemas import ApiKeyCreate
from echo_ai.billing.plans import api_requests_per_minute
from echo_ai.config import Settings
from echo_ai.errors import AppError
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action
from echo_ai.security.api_keys import KEY_PREFIX
from echo_ai.security.csrf import normalize_origin
from echo_ai.security.rate_limit import RateLimited, RateLimiterDep, enforce_rate_limit
from echo_ai.web.forms import form_fields, form_lists, retry_message, validate
from echo_ai.web.rendering import render, see_other
from echo_ai.web.reveal import forget_revealed, reveal_once, take_revealed
from echo_ai.web.viewer import CurrentViewer, ManagerViewer, Viewer, choose_workspace
from echo_ai.workspaces import quotas
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Role
from echo_ai.workspaces.schemas import InvitationCreate, RoleChange, WorkspaceCreate

router = APIRouter(include_in_schema=False)

AUDIT_PAGE_SIZE = 50
KEY_EXPIRY_CHOICES = (
    ("", "Never"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
)
ROLES = [role.value for role in Role]
KEYS_PATH = "/settings/keys"
KEY_KIND = "api-key"
"""What the flash cookie of a new API key reveals (:mod:`echo_ai.web.reveal`)."""


# --- workspace ------------------------------------------------------------------------


async def _workspace_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    state: StateDep,
    *,
    status_code: int = 200,
    name: str | None = None,
    new_name: str = "",
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    limits = await quotas.limits_of(session, viewer.workspace_id, state.settings)
    return render(
        request,
        "settings/workspace.html",
        status_code=status_code,
        viewer=viewer,
        section="workspace",
        name=viewer.workspace.name if name is None else name,
        new_name=new_name,
        limits=limits,
        api_rate=api_requests_per_minute(viewer.workspace.plan, state.settings),
        errors=errors or {},
        error=error,
        notice=notice,
    )


NOTICES = {
    "renamed": "The workspace was renamed.",
    "created": "Your new team workspace is ready: you are its owner. Invite its members below.",
}


@router.get("/settings")
async def workspace_settings(
    request: Request, viewer: CurrentViewer, session: SessionDep, state: StateDep
) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""))
    return await _workspace_page(request, viewer, session, state, notice=notice)


@router.post("/settings/workspace")
async def rename_workspace(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    name = (await form_fields(request)).get("name", "")
    data = validate(WorkspaceCreate, {"name": name})
    if isinstance(data, dict):
        return await _workspace_page(
            request, viewer, session, state, status_code=422, name=name, errors=data
        )
    await workspaces.rename(session, viewer.workspace_id, data.name, actor=viewer.actor)
    return see_other(request, "/settings?done=renamed")


@router.post("/settings/workspaces")
async def create_workspace(
    request: Request,
    viewer: CurrentViewer,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
) -> Response:
    """A team workspace owned by the viewer, chosen in the switcher at once."""
    name = (await form_fields(request)).get("new_name", "")
    data = validate(WorkspaceCreate, {"name": name})
    if isinstance(data, dict):
        errors = {"new_name": data.get("name", "invalid")}
        return await _workspace_page(
            request, viewer, session, state, status_code=422, new_name=name, errors=errors
        )
    try:
        workspace = await limits.create_workspace(
            session, limiter, viewer.user, data.name, actor=viewer.actor, settings=state.settings
        )
    except RateLimited as refused:
        return await _workspace_page(
            request,
            viewer,
            session,
            state,
            status_code=429,
            new_name=name,
            error=retry_message(refused),
        )
    response = see_other(request, "/settings?done=created")
    choose_workspace(response, workspace.id, state.settings)
    return response


# --- members and invitations ----------------------------------------------------------


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    address = _address(host)
    return address.is_loopback if address is not None else host.lower() == "localhost"


def site_origin(request: Request, settings: Settings) -> str | None:
    """Where this site is reached from outside, for a link given to someone else (an
    invitation), or None when that is not known.

    The configured public URL when there is one. Otherwise the origin the request was
    addressed to, but only when the configuration vouches for it: one of the configured
    allowed origins, the address ``serve`` listens on, or a loopback address. The ``Host``
    header alone is never trusted: a client or a proxy sets it to anything, and a link to
    another site in an invitation would hand the invitee to whoever owns it."""
    public = settings.server.public_url
    if public:
        return public.rstrip("/")
    asked = normalize_origin(str(request.base_url))
    if asked is None:
        return None
    vouched = {normalize_origin(origin) for origin in settings.server.allowed_origins}
    listening = _address(settings.server.host)
    if listening is None or not listening.is_unspecified:  # not 0.0.0.0 or ::
        own = f"{request.url.scheme}://{settings.server.host}:{settings.server.port}"
        vouched.add(normalize_origin(own))
    host = request.url.hostname or ""
    if asked in vouched or _loopback(host):
        return asked
    return None


async def _members_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    *,
    status_code: int = 200,
    invite: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    invitation_link: str | None = None,
) -> Response:
    rows = await workspaces.members(session, viewer.workspace_id)
    pending = (
        await workspaces.pending_invitations(session, viewer.workspace_id)
        if viewer.can_manage
        else []
    )
    return render(
        request,
        "settings/members.html",
        status_code=status_code,
        viewer=viewer,
        section="members",
        members=rows,
        owners=sum(1 for membership, _ in rows if membership.role is Role.OWNER),
        pending=pending,
        roles=ROLES,
        grantable=[r for r in ROLES if r != Role.OWNER or viewer.role is Role.OWNER],
        invite=invite or {"email": "", "role": Role.MEMBER.value},
        errors=errors or {},
        error=error,
        notice=notice,
        invitation_link=invitation_link,
    )


MEMBER_NOTICES = {
    "role": "The role was changed.",
    "removed": "The member was removed; their API keys in this workspace are revoked.",
    "revoked": "The invitation was revoked: its link no longer works.",
}


@router.get("/settings/members")
async def members_settings(
    request: Request, viewer: CurrentViewer, session: SessionDep
) -> Response:
    notice = MEMBER_NOTICES.get(request.query_params.get("done", ""))
    return await _members_page(request, viewer, session, notice=notice)


@router.post("/settings/members/invite")
async def invite_member(
    request: Request,
    viewer: ManagerViewer,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
) -> Response:
    fields = await form_fields(request)
    typed = {"email": fields.get("email", ""), "role": fields.get("role", "")}
    data = validate(InvitationCreate, typed)
    if isinstance(data, dict):
        return await _members_page(
            request, viewer, session, status_code=422, invite=typed, errors=data
        )
    try:
        created = await limits.invite(
            session,
            limiter,
            state.settings,
            viewer.workspace_id,
            data,
            invited_by=viewer.user,
            inviter_role=viewer.role,
            actor=viewer.actor,
        )
    except RateLimited as refused:
        return await _members_page(
            request, viewer, session, status_code=429, invite=typed, error=retry_message(refused)
        )
    except AppError as refused:
        return await _members_page(
            request,
            viewer,
            session,
            status_code=refused.status_code,
            invite=typed,
            error=refused.message,
        )
    path = f"/invitations/{created.token}"
    site = site_origin(request, state.settings)
    return await _members_page(
        request,
        viewer,
        session,
        notice=f"{created.invitation.email} is invited as {created.invitation.role}.",
        invitation_link=path if site is None else site + path,
    )


@router.post("/settings/members/{user_id}/role")
async def change_role(
    request: Request, user_id: uuid.UUID, viewer: ManagerViewer, session: SessionDep
) -> Response:
    data = validate(RoleChange, {"role": (await form_fields(request)).get("role", "")})
    if isinstance(data, dict):
        return await _members_page(
            request, viewer, session, status_code=422, error=f"Role: {data.get('role')}"
        )
    try:
        await member_changes.change_role(
            session,
            viewer.workspace_id,
            user_id,
            data.role,
            actor_role=viewer.role,
            actor=viewer.actor,
        )
    except AppError as refused:
        if refused.status_code == 404:
            raise
        return await _members_page(
            request, viewer, session, status_code=refused.status_code, error=refused.message
        )
    return see_other(request, "/settings/members?done=role")


@router.post("/settings/members/{user_id}/remove")
async def remove_member(
    request: Request, user_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    """Remove a member (owners and admins), or leave the workspace (anyone)."""
    try:
        await member_changes.remove_member(
            session, viewer.workspace_id, user_id, actor_role=viewer.role, actor=viewer.actor
        )
    except AppError as refused:
        if refused.status_code in (403, 404):
            raise
        return await _members_page(
            request, viewer, session, status_code=refused.status_code, error=refused.message
        )
    if user_id == viewer.user.id:
        return see_other(request, "/")
    return see_other(request, "/settings/members?done=removed")


@router.post("/settings/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    request: Request, invitation_id: uuid.UUID, viewer: ManagerViewer, session: SessionDep
) -> Response:
    await workspaces.revoke_invitation(
        session, viewer.workspace_id, invitation_id, actor_role=viewer.role, actor=viewer.actor
    )
    return see_other(request, "/settings/members?done=revoked")


# --- API keys -------------------------------------------------------------------------


async def _keys_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    *,
    status_code: int = 200,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    new_key: str | None = None,
) -> Response:
    keys = await api_keys.list_keys(session, viewer.workspace_id)
    people = {user.id: user for _, user in await workspaces.members(session, viewer.workspace_id)}
    return render(
        request,
        "settings/keys.html",
        status_code=status_code,
        viewer=viewer,
        section="keys",
        keys=keys,
        people=people,
        key_prefix=KEY_PREFIX,
        typed=typed or {"name": "", "scopes": ["read", "write"], "expires_in_days": ""},
        expiry_choices=KEY_EXPIRY_CHOICES,
        errors=errors or {},
        error=error,
        notice=notice,
        new_key=new_key,
    )


KEY_NOTICES = {"revoked": "The key was revoked.", "created": "The key was created."}


@router.get("/settings/keys")
async def keys_settings(
    request: Request, viewer: ManagerViewer, session: SessionDep, state: StateDep
) -> Response:
    notice = KEY_NOTICES.get(request.query_params.get("done", ""))
    new_key = take_revealed(request, keys=state.keys, user_id=viewer.user.id, kind=KEY_KIND)
    response = await _keys_page(request, viewer, session, notice=notice, new_key=new_key)
    return forget_revealed(request, response, path=KEYS_PATH, settings=state.settings)


@router.post("/settings/keys")
async def create_key(
    request: Request,
    viewer: ManagerViewer,
    session: SessionDep,
    state: StateDep,
    limiter: RateLimiterDep,
) -> Response:
    fields = await form_fields(request)
    scopes = (await form_lists(request, "scopes"))["scopes"]
    expiry = fields.get("expires_in_days", "")
    typed: dict[str, Any] = {
        "name": fields.get("name", ""),
        "scopes": scopes,
        "expires_in_days": expiry,
    }
    data: dict[str, Any] = {"name": typed["name"].strip(), "scopes": scopes}
    if expiry:
        data["expires_in_days"] = int(expiry) if expiry.isdigit() else expiry
    checked = validate(ApiKeyCreate, data)
    if isinstance(checked, dict):
        return await _keys_page(
            request, viewer, session, status_code=422, typed=typed, errors=checked
        )
    try:
        await enforce_rate_limit(
            limiter, str(viewer.workspace_id), KEYS_CREATED_PER_WORKSPACE, name="api-key"
        )
    except RateLimited as refused:
        return await _keys_page(
            request, viewer, session, status_code=429, typed=typed, error=retry_message(refused)
        )
    _key, token = await api_keys.create(
        session,
        viewer.workspace_id,
        checked,
        created_by=viewer.user.id,
        pepper=state.keys.peppers()[0],
        actor=viewer.actor,
    )
    # Post/Redirect/Get: a reload of the page shows the key no more and makes no other.
    return reveal_once(
        see_other(request, f"{KEYS_PATH}?done=created"),
        keys=state.keys,
        settings=state.settings,
        user_id=viewer.user.id,
        path=KEYS_PATH,
        kind=KEY_KIND,
        secret=token,
    )


@router.post("/settings/keys/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: uuid.UUID, viewer: ManagerViewer, session: SessionDep
) -> Response:
    await api_keys.revoke(session, viewer.workspace_id, key_id, actor=viewer.actor)
    return see_other(request, "/settings/keys?done=revoked")


# --- audit log ------------------------------------------------------------------------


EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)
"""The audit log's date filters take days in this range: nothing is older than the epoch,
and days near datetime's limits (0001-01-01, 9999-12-31) cannot be turned into UTC."""


def _midnight(value: str, viewer: Viewer, *, days_after: int = 0) -> datetime | str:
    """Midnight of a ``YYYY-MM-DD`` day (or of ``days_after`` days later) in the viewer's
    time zone, or the message for the field when the value is no such day."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return "Give a date as YYYY-MM-DD."
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        return f"Give a date from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}."
    try:
        return datetime.combine(day + timedelta(days=days_after), time(), viewer.tz).astimezone(UTC)
    except OverflowError:  # pragma: no cover - the range keeps clear of datetime's limits
        return f"Give a date from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}."


@router.get("/settings/audit")
async def audit_log(
    request: Request, viewer: ManagerViewer, session: SessionDep, cursor: Cursor = None
) -> Response:
    query = request.query_params
    filters = {name: query.get(name, "").strip() for name in ("action", "actor", "from", "to")}
    errors: dict[str, str] = {}
    action = filters["action"] or None
    if action is not None and action not in {item.value for item in Action}:
        errors["action"] = "Choose an action from the list."
        action = None
    actor: uuid.UUID | None = None
    if filters["actor"]:
        try:
            actor = uuid.UUID(filters["actor"])
        except ValueError:
            errors["actor"] = "Choose a member from the list."
    since = until = None
    if filters["from"]:
        found_day = _midnight(filters["from"], viewer)
        if isinstance(found_day, str):
            errors["from"] = found_day
        else:
            since = found_day
    if filters["to"]:
        found_day = _midnight(filters["to"], viewer, days_after=1)
        if isinstance(found_day, str):
            errors["to"] = found_day
        else:
            until = found_day
    if since is not None and until is not None and until <= since:
        errors["to"] = "The end date comes before the start date."
    before = decode_cursor(cursor, aware_time, uuid.UUID) if cursor is not None else None
    found = []
    if not errors:
        found = await audit.page(
            session,
            viewer.workspace_id,
            limit=AUDIT_PAGE_SIZE + 1,
            before=before,
            action=action,
            actor_user_id=actor,
            since=since,
            until=until,
        )
    events = found[:AUDIT_PAGE_SIZE]
    next_query = None
    if len(found) > AUDIT_PAGE_SIZE:
        last = events[-1]
        kept = {name: value for name, value in filters.items() if value}
        next_query = {**kept, "cursor": encode_cursor(last.created_at.isoformat(), str(last.id))}
    people = {user.id: user for _, user in await workspaces.members(session, viewer.workspace_id)}
    return render(
        request,
        "settings/audit.html",
        status_code=422 if errors else 200,
        viewer=viewer,
        section="audit",
        events=events,
        people=people,
        actions=[item.value for item in Action],
        filters=filters,
        errors=errors,
        next_query=next_query,
        first_page=cursor is None,
    )
