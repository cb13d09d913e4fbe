"""Issue 9 §1: a member's API keys and invitations work only while the member may use them.

Over real HTTP, as the probe did it: an admin's write key keeps working after the owner
removed the admin. Now it is refused at once (401), a lowered role narrows it (reads
work, writes 403), invitations the admin made can no longer be accepted, and the audit
log says what was revoked. Then, on the service, that the key lookup itself checks the
creator's membership on every request, whatever the revocations did.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update

from echo_ai.api_keys import service as api_keys
from echo_ai.api_keys.models import ApiKey
from echo_ai.api_keys.schemas import ApiKeyCreate
from echo_ai.auth.models import User
from echo_ai.auth.schemas import Registration
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy.audit import Actor, ActorKind
from echo_ai.security.credentials import Refusal
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Membership, Role
from tests.accounts_http import Team, api_key, audit_events, create_team, invite
from tests.accounts_http import register_and_login as sync_register_and_login
from tests.kit import PASSWORD, bearer

pytestmark = pytest.mark.usefixtures("backend")

EXPERIMENT = {"prompt": "best crm?", "brands": {"target": {"name": "HubSpot"}}, "iterations": 2}
NO_SUCH_INVITATION = {
    "error": {"code": "not_found", "message": workspaces.NO_SUCH_INVITATION, "details": None}
}


def _statuses(http: httpx.Client, key: dict[str, str]) -> tuple[int, int]:
    """What the key gets on a read (list experiments) and a write (create one)."""
    listed = http.get("/v1/experiments", headers=key)
    created = http.post("/v1/experiments", headers=key, json=EXPERIMENT)
    return listed.status_code, created.status_code


def _events(http: httpx.Client, team: Team, action: str) -> list[dict[str, Any]]:
    return [e for e in audit_events(http, team.as_["owner"]) if e["action"] == action]


def _accept(http: httpx.Client, email: str, token: str) -> httpx.Response:
    user = sync_register_and_login(http, email)
    return http.post("/v1/invitations/accept", headers=user, json={"token": token})


def test_a_removed_members_key_and_invitations_stop_working_at_once(http: httpx.Client) -> None:
    team = create_team(http, ("admin",))
    created = api_key(http, team.as_["admin"], ["read", "write"])
    key = bearer(created["key"])
    invitation = invite(http, team.as_["admin"], "eve@example.com", "member")
    assert _statuses(http, key) == (200, 202)

    removed = http.delete(f"/v1/members/{team.ids['admin']}", headers=team.as_["owner"])
    assert removed.status_code == 204

    listed = http.get("/v1/experiments", headers=key)
    assert listed.status_code == 401
    assert listed.json()["error"]["code"] == "not_authenticated"
    assert _statuses(http, key) == (401, 401)
    refused = _accept(http, "eve@example.com", invitation["token"])
    assert (refused.status_code, refused.json()) == (404, NO_SUCH_INVITATION)
    assert http.get("/v1/invitations", headers=team.as_["owner"]).json() == []
    (stored,) = http.get("/v1/api-keys", headers=team.as_["owner"]).json()
    assert stored["id"] == created["id"] and stored["revoked_at"] is not None

    (revoked_key,) = _events(http, team, "api_key.revoked")
    assert revoked_key["target_id"] == created["id"]
    assert revoked_key["actor_user_id"] == team.ids["owner"]
    assert revoked_key["details"] == {
        "name": "ci",
        "reason": "member_removed",
        "created_by": team.ids["admin"],
    }
    (revoked_invitation,) = _events(http, team, "member.invitation_revoked")
    assert revoked_invitation["target_id"] == invitation["id"]
    assert revoked_invitation["details"] == {
        "email": "eve@example.com",
        "role": "member",
        "reason": "inviter_removed",
    }


def test_a_lowered_role_narrows_the_members_keys(http: httpx.Client) -> None:
    team = create_team(http, ("admin",))
    created = api_key(http, team.as_["admin"], ["read", "write"])
    key = bearer(created["key"])
    invitation = invite(http, team.as_["admin"], "eve@example.com", "viewer")
    member_url = f"/v1/members/{team.ids['admin']}"

    # Member still writes: the key keeps its scopes, but the invitation loses its inviter.
    as_member = http.patch(member_url, headers=team.as_["owner"], json={"role": "member"})
    assert as_member.status_code == 200
    assert _statuses(http, key) == (200, 202)
    assert _accept(http, "eve@example.com", invitation["token"]).status_code == 404
    # Viewer does not: reads work, writes are refused.
    as_viewer = http.patch(member_url, headers=team.as_["owner"], json={"role": "viewer"})
    assert as_viewer.status_code == 200
    assert _statuses(http, key) == (200, 403)
    (stored,) = http.get("/v1/api-keys", headers=team.as_["owner"]).json()
    assert (stored["scopes"], stored["revoked_at"]) == (["read"], None)
    # Raised again, the narrowed key stays read-only: its creator makes a new one.
    http.patch(member_url, headers=team.as_["owner"], json={"role": "admin"})
    assert _statuses(http, key) == (200, 403)

    (narrowed,) = _events(http, team, "api_key.narrowed")
    assert narrowed["target_id"] == created["id"]
    assert narrowed["details"] == {
        "name": "ci",
        "from": ["read", "write"],
        "to": ["read"],
        "reason": "role_changed",
        "created_by": team.ids["admin"],
    }
    (revoked_invitation,) = _events(http, team, "member.invitation_revoked")
    assert revoked_invitation["details"]["reason"] == "inviter_role_changed"


def test_a_member_who_leaves_takes_their_keys_along(http: httpx.Client) -> None:
    team = create_team(http, ("admin",))
    key = bearer(api_key(http, team.as_["admin"], ["read"])["key"])
    assert http.get("/v1/experiments", headers=key).status_code == 200
    left = http.delete(f"/v1/members/{team.ids['admin']}", headers=team.as_["admin"])
    assert left.status_code == 204
    assert http.get("/v1/experiments", headers=key).status_code == 401
    (revoked,) = _events(http, team, "api_key.revoked")
    assert revoked["details"]["reason"] == "member_left"
    assert revoked["actor_user_id"] == team.ids["admin"]


# --- the lookup itself -----------------------------------------------------------------

KEYS = KeyRing(current="k" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*")


async def _user(runtime: Runtime, email: str) -> User:
    async with transaction(runtime.session_factory) as session:
        user = await workspaces.register(
            session,
            Registration(email=email, password=PASSWORD, accept_terms=True),
            actor=Actor(),
            settings=runtime.settings,
        )
    assert user is not None
    return user


async def test_every_lookup_checks_the_creators_membership_now(runtime: Runtime) -> None:
    """Membership changes made behind the use cases' back (no revocation, no narrowing)
    still take effect on the key's next request."""
    owner = await _user(runtime, "owner@example.com")
    admin_id = (await _user(runtime, "admin@example.com")).id
    async with transaction(runtime.session_factory) as session:
        as_owner = Actor(kind=ActorKind.USER, user_id=owner.id)
        workspace = await workspaces.create_workspace(
            session, owner, "Acme", actor=as_owner, settings=runtime.settings
        )
        session.add(Membership(workspace_id=workspace.id, user_id=admin_id, role=Role.ADMIN))
        await session.flush()
        key, token = await api_keys.create(
            session,
            workspace.id,
            ApiKeyCreate(name="ci", scopes=["read", "write"]),
            created_by=admin_id,
            pepper=KEYS.peppers()[0],
            actor=Actor(kind=ActorKind.USER, user_id=admin_id),
        )

    async def lookup() -> api_keys.KeyGrant | Refusal:
        async with transaction(runtime.session_factory) as session:
            return await api_keys.authenticate(session, token, peppers=KEYS.peppers())

    async def set_role(role: Role | None) -> None:
        async with transaction(runtime.session_factory) as session:
            where = (Membership.workspace_id == workspace.id, Membership.user_id == admin_id)
            if role is None:
                await session.execute(delete(Membership).where(*where))
            else:
                await session.execute(update(Membership).where(*where).values(role=role))

    granted = await lookup()
    assert isinstance(granted, api_keys.KeyGrant) and granted.role is Role.MEMBER
    await set_role(Role.VIEWER)
    granted = await lookup()
    assert isinstance(granted, api_keys.KeyGrant) and granted.role is Role.VIEWER
    assert granted.key.scopes == ["read", "write"]  # not narrowed: the lookup decides
    await set_role(None)
    assert await lookup() is Refusal.ENDED
    # A creator who is a member again vouches again; a creator who is gone never does.
    async with transaction(runtime.session_factory) as session:
        session.add(Membership(workspace_id=workspace.id, user_id=admin_id, role=Role.OWNER))
    granted = await lookup()
    assert isinstance(granted, api_keys.KeyGrant) and granted.role is Role.MEMBER
    # A deactivated creator no longer vouches (as their own tokens no longer work).
    async with transaction(runtime.session_factory) as session:
        await session.execute(update(User).where(User.id == admin_id).values(is_active=False))
    assert await lookup() is Refusal.ENDED
    async with transaction(runtime.session_factory) as session:
        await session.execute(update(User).where(User.id == admin_id).values(is_active=True))
    assert isinstance(await lookup(), api_keys.KeyGrant)
    async with transaction(runtime.session_factory) as session:
        await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(created_by_id=None))
    assert await lookup() is Refusal.ENDED
    # A key nobody issued is another refusal: a guess.
    async with transaction(runtime.session_factory) as session:
        unknown = "echo_live_" + "A" * 38
        assert await api_keys.authenticate(session, unknown, peppers=KEYS.peppers()) is (
            Refusal.UNKNOWN
        )
