"""Who is looking at a page: the signed-in user of the browser session, in which workspace,
with which role, in which time zone.

Pages use the session cookie of the JSON API's browser sign-in (:mod:`echo_ai.api.session`).
Without a valid session a page answers with a redirect to ``/login?next=<path>``
(:class:`SignInRequired`, handled in :mod:`.errors`). The workspace is the one the
switcher last chose (``echo_workspace`` cookie) while the user is still a member of it,
else their personal one. Unsafe requests (the forms, htmx posts) must carry the session's
CSRF token, in the form's hidden ``csrf_token`` field or the ``X-CSRF-Token`` header (htmx
sends it from the page's ``hx-headers``), and come from our origin.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response

from echo_ai.accounts import consent
from echo_ai.accounts.security import check_workspace_requirement
from echo_ai.api.auth import Forbidden, Principal, client_actor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.session import CSRF_HEADER, UNSAFE_METHODS, check_csrf_token, session_cookie_name
from echo_ai.auth import service as accounts
from echo_ai.auth.models import User
from echo_ai.config import Settings
from echo_ai.privacy.audit import Actor, ActorKind
from echo_ai.security.csrf import issue_csrf_token
from echo_ai.web.format import zone
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Membership, Role, Workspace

WORKSPACE_COOKIE = "echo_workspace"
WORKSPACE_COOKIE_DAYS = 365
TZ_COOKIE = "echo_tz"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in page, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return "/login" if self.next_path == "/" else f"/login?next={quote(self.next_path)}"


class ConsentPending(Exception):
    """Newer terms or privacy policy than the viewer accepted: the page redirects to the
    interstitial ``/consent``, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return "/consent" if self.next_path == "/" else f"/consent?next={quote(self.next_path)}"


ACCOUNT_PATHS = frozenset(
    {
        "/settings/security",
        "/settings/security/email",
        "/settings/security/2fa/begin",
        "/settings/security/2fa/confirm",
        "/settings/security/2fa/disable",
        "/settings/security/recovery-codes",
        "/settings/security/marketing",
        "/settings/sessions",
        "/settings/sessions/revoke-all",
        "/settings/data",
        "/settings/data/export",
        "/settings/data/delete",
        "/consent",
        "/logout",
        "/workspace",
    }
)
"""Pages of the viewer's own account (and invitations, :data:`ACCOUNT_PATH_PATTERNS`),
matched exactly: reachable before accepting newer terms and without 2FA in a workspace
that requires it (how one turns it on; and one may always export or delete one's data).
Every other page first sends a viewer who must accept newer terms to ``/consent``, and
refuses (403 ``two_factor_required``, with a link to Settings → Security) a member without
2FA in a workspace that requires it. ``/settings/security/workspace`` (a workspace's
setting, not the account's) is deliberately not among them."""

ACCOUNT_PATH_PATTERNS = (
    re.compile(r"/settings/sessions/[^/]+/revoke"),
    re.compile(r"/settings/data/exports/[^/]+/download"),
    re.compile(r"/invitations/[^/]+"),
)


def is_account_path(path: str) -> bool:
    """Whether ``path`` is one of the account pages exempt from the consent gate and a
    workspace's 2FA requirement (exact paths, or whole-path patterns)."""
    return path in ACCOUNT_PATHS or any(p.fullmatch(path) for p in ACCOUNT_PATH_PATTERNS)


@dataclass(frozen=True)
class Viewer:
    user: User
    workspace: Workspace
    role: Role
    memberships: list[tuple[Membership, Workspace]]
    csrf_token: str
    tz: ZoneInfo
    actor: Actor = field(repr=False)

    @property
    def principal(self) -> Principal:
        return Principal(workspace_id=self.workspace.id, role=self.role, user=self.user)

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.workspace.id

    @property
    def can_write(self) -> bool:
        return self.role.can_write

    @property
    def can_manage(self) -> bool:
        return self.role.can_manage


def _chosen(
    memberships: list[tuple[Membership, Workspace]], wanted: str | None
) -> tuple[Membership, Workspace] | None:
    by_id = {str(workspace.id): (m, workspace) for m, workspace in memberships}
    if wanted in by_id:
        return by_id[wanted]
    personal = [row for row in memberships if row[1].personal]
    candidates = personal or memberships
    return candidates[0] if candidates else None


async def current_viewer(request: Request, state: StateDep, session: SessionDep) -> Viewer:
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    cookie = request.cookies.get(session_cookie_name(state.settings))
    found = await accounts.session_user(session, cookie) if cookie else None
    if not isinstance(found, tuple):
        raise SignInRequired(next_path)
    user, family_id = found
    session_id = str(family_id)
    if request.method.upper() in UNSAFE_METHODS:
        token = request.headers.get(CSRF_HEADER)
        if token is None:
            form = await request.form()  # parsed once: the route's Form() fields reuse it
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
        check_csrf_token(request, state.settings, state.keys.csrf_secret, session_id, token)
    memberships = await workspaces.memberships(session, user.id)
    chosen = _chosen(memberships, request.cookies.get(WORKSPACE_COOKIE))
    if chosen is None:  # an account without any workspace: nothing to show
        raise SignInRequired(next_path)
    membership, workspace = chosen
    if not is_account_path(request.url.path):
        check_workspace_requirement(workspace, user)
        if await consent.needed(session, user, privacy=state.settings.privacy) is not None:
            raise ConsentPending(next_path)
    return Viewer(
        user=user,
        workspace=workspace,
        role=membership.role,
        memberships=memberships,
        csrf_token=issue_csrf_token(session_id, state.keys.csrf_secret),
        tz=zone(request.cookies.get(TZ_COOKIE)),
        actor=replace(client_actor(request), kind=ActorKind.USER, user_id=user.id),
    )


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


async def optional_viewer(request: Request, state: StateDep, session: SessionDep) -> Viewer | None:
    """The signed-in viewer, or None for a visitor without a (usable) session: for pages
    anyone may open (sign-in, sign-up, an invitation). On an unsafe request with a
    session, the CSRF check of :func:`current_viewer` applies all the same."""
    try:
        return await current_viewer(request, state, session)
    except SignInRequired:
        return None


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]


def choose_workspace(response: Response, workspace_id: uuid.UUID | str, settings: Settings) -> None:
    """Make ``workspace_id`` the one the pages show from the next request on (the
    switcher's cookie; :func:`current_viewer` still checks the viewer is a member)."""
    response.set_cookie(
        WORKSPACE_COOKIE,
        str(workspace_id),
        max_age=WORKSPACE_COOKIE_DAYS * 24 * 3600,
        path="/",
        samesite="lax",
        httponly=True,
        secure=settings.server.https,
    )


def require_write(viewer: CurrentViewer) -> Viewer:
    """403 for a viewer (read-only role): pages hide write controls from them, and the
    server refuses forged writes all the same."""
    if not viewer.can_write:
        raise Forbidden("your role in this workspace is read-only")
    return viewer


def require_manager(viewer: CurrentViewer) -> Viewer:
    """Owners and admins only (keys, members, invitations, workspace settings)."""
    if not viewer.can_manage:
        raise Forbidden("only workspace owners and admins can do this")
    return viewer


WriteViewer = Annotated[Viewer, Depends(require_write)]
ManagerViewer = Annotated[Viewer, Depends(require_manager)]
