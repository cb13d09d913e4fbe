"""Team workspaces, invitations, members and the role matrix over HTTP.

Registration hashes a password with Argon2 (~50 ms): each test registers each of its
users once.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.db import utcnow
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Invitation, Role

pytestmark = pytest.mark.usefixtures("backend")

PASSWORD = "correct horse battery staple"
EXPERIMENT = {"prompt": "best crm?", "brands": {"target": {"name": "HubSpot"}}, "iterations": 2}
ROLES = ("owner", "admin", "member", "viewer")
NOT_FOUND_INVITATION = {
    "error": {"code": "not_found", "message": workspaces.NO_SUCH_INVITATION, "details": None}
}


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    registered = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201
    response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class Team:
    workspace_id: str
    as_: dict[str, dict[str, str]] = field(default_factory=dict)
    """Headers of each user (by role name), with ``X-Workspace-ID`` of the team."""
    ids: dict[str, str] = field(default_factory=dict)
    """User ids by role name."""

    def headers(self, user: dict[str, str]) -> dict[str, str]:
        return {**user, "X-Workspace-ID": self.workspace_id}


async def _invite(
    client: httpx.AsyncClient, headers: dict[str, str], email: str, role: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/invitations", headers=headers, json={"email": email, "role": role}
    )
    assert response.status_code == 201, response.text
    invitation: dict[str, Any] = response.json()
    return invitation


async def _team(client: httpx.AsyncClient, *roles: str) -> Team:
    """An owner's team workspace joined, through invitations, by one user per role."""
    owner = await _login(client, "owner@example.com")
    created = await client.post("/v1/workspaces", headers=owner, json={"name": " Acme "})
    assert created.status_code == 201
    assert created.json()["name"] == "Acme" and created.json()["role"] == "owner"
    team = Team(workspace_id=created.json()["id"])
    team.as_["owner"] = team.headers(owner)
    for role in roles:
        # Invited in capitals: addresses are compared case-insensitively.
        invitation = await _invite(client, team.as_["owner"], f"{role.upper()}@Example.com", role)
        user = await _login(client, f"{role}@example.com")
        accepted = await client.post(
            "/v1/invitations/accept", headers=user, json={"token": invitation["token"]}
        )
        assert accepted.status_code == 201, accepted.text
        assert (accepted.json()["id"], accepted.json()["role"]) == (team.workspace_id, role)
        team.as_[role] = team.headers(user)
    listed = await client.get("/v1/members", headers=team.as_["owner"])
    assert listed.status_code == 200
    team.ids = {member["role"]: member["user_id"] for member in listed.json()}
    assert sorted(team.ids) == sorted(["owner", *roles])
    return team


async def _until_done(client: httpx.AsyncClient, headers: dict[str, str], url: str) -> None:
    for _ in range(200):
        response = await client.get(url, headers=headers)
        assert response.status_code == 200
        if response.json()["status"] in ("completed", "failed"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the experiment did not finish")


async def test_role_matrix(client: httpx.AsyncClient) -> None:
    """Viewers cannot write, members cannot manage, admins and owners can, and a user of
    another workspace gets 404 on every endpoint (with the team's ``X-Workspace-ID``)."""
    team = await _team(client, "admin", "member", "viewer")
    mine = await _login(client, "outsider@example.com")
    callers = {**team.as_, "outsider": team.headers(mine)}

    async def matrix(method: str, url: str, body: Any = None) -> dict[str, int]:
        return {
            who: (await client.request(method, url, headers=headers, json=body)).status_code
            for who, headers in callers.items()
        }

    created: dict[str, str] = {}
    for who, headers in callers.items():
        response = await client.post("/v1/experiments", headers=headers, json=EXPERIMENT)
        created[who] = str(response.status_code)
        if response.status_code == 202:
            created[who] = response.json()["id"]
    experiments = [created.pop(who) for who in ("owner", "admin", "member")]
    assert created == {"viewer": "403", "outsider": "404"}

    url = f"/v1/experiments/{experiments[0]}"
    assert await matrix("GET", url) == {**dict.fromkeys(ROLES, 200), "outsider": 404}
    for experiment_id in experiments:
        await _until_done(client, team.as_["owner"], f"/v1/experiments/{experiment_id}")

    managers_only = {"owner": 0, "admin": 0, "member": 403, "viewer": 403, "outsider": 404}
    assert await matrix("POST", "/v1/api-keys", {"name": "k"}) == {
        **managers_only,
        "owner": 201,
        "admin": 201,
    }
    assert await matrix("GET", "/v1/audit-events") == {**managers_only, "owner": 200, "admin": 200}
    assert await matrix("GET", "/v1/invitations") == {**managers_only, "owner": 200, "admin": 200}
    invited = {
        who: (
            await client.post(
                "/v1/invitations",
                headers=headers,
                json={"email": f"new-{who}@example.com", "role": "member"},
            )
        ).status_code
        for who, headers in callers.items()
    }
    assert invited == {**managers_only, "owner": 201, "admin": 201}
    patch_url = f"/v1/members/{team.ids['member']}"
    assert await matrix("PATCH", patch_url, {"role": "member"}) == {
        **managers_only,
        "owner": 200,
        "admin": 200,
    }
    assert await matrix("GET", "/v1/members") == {**dict.fromkeys(ROLES, 200), "outsider": 404}

    # The outsider in their own workspace: the team's ids do not exist there.
    pending = (await client.get("/v1/invitations", headers=team.as_["owner"])).json()
    assert (await client.get(url, headers=mine)).status_code == 404
    assert (await client.delete(url, headers=mine)).status_code == 404
    assert (await client.patch(patch_url, headers=mine, json={"role": "viewer"})).status_code == 404
    assert (await client.delete(patch_url, headers=mine)).status_code == 404
    assert (
        await client.delete(f"/v1/invitations/{pending[0]['id']}", headers=mine)
    ).status_code == 404

    # Deletions, each of something that still exists: refusals first.
    deleted = {
        "viewer": await client.delete(url, headers=callers["viewer"]),
        "outsider": await client.delete(url, headers=callers["outsider"]),
        "member": await client.delete(url, headers=callers["member"]),
    }
    for who, experiment_id in zip(("admin", "owner"), experiments[1:], strict=True):
        deleted[who] = await client.delete(f"/v1/experiments/{experiment_id}", headers=callers[who])
    assert {who: response.status_code for who, response in deleted.items()} == {
        "viewer": 403,
        "outsider": 404,
        "member": 204,
        "admin": 204,
        "owner": 204,
    }

    member_url, viewer_url = (f"/v1/members/{team.ids[role]}" for role in ("member", "viewer"))
    removed = {
        "viewer": await client.delete(member_url, headers=callers["viewer"]),
        "member": await client.delete(viewer_url, headers=callers["member"]),
        "outsider": await client.delete(member_url, headers=callers["outsider"]),
        "admin": await client.delete(viewer_url, headers=callers["admin"]),
        "owner": await client.delete(member_url, headers=callers["owner"]),
    }
    assert {who: response.status_code for who, response in removed.items()} == {
        "viewer": 403,
        "member": 403,
        "outsider": 404,
        "admin": 204,
        "owner": 204,
    }
    # Removed members lose access to the team at once.
    assert (await client.get("/v1/members", headers=callers["member"])).status_code == 404
    listed = await client.get("/v1/members", headers=team.as_["owner"])
    assert sorted(member["role"] for member in listed.json()) == ["admin", "owner"]


async def test_invitation_lifecycle(client: httpx.AsyncClient, app: FastAPI) -> None:
    team = await _team(client, "admin")
    bob = await _login(client, "bob@example.com")
    eve = await _login(client, "eve@example.com")

    # Admins invite admins, members and viewers, but not owners; owners can.
    refused = await client.post(
        "/v1/invitations",
        headers=team.as_["admin"],
        json={"email": "bob@example.com", "role": "owner"},
    )
    assert refused.status_code == 403
    first = await _invite(client, team.as_["admin"], "bob@example.com", "viewer")
    assert first["token"].startswith("echo_inv_") and first["role"] == "viewer"
    second = await _invite(client, team.as_["owner"], "Bob@example.com", "owner")
    pending = (await client.get("/v1/invitations", headers=team.as_["admin"])).json()
    assert [(item["id"], item["role"]) for item in pending] == [(second["id"], "owner")]
    assert "token" not in pending[0]
    # An admin cannot revoke an owner's invitation, nor invite an existing member.
    revoke = f"/v1/invitations/{second['id']}"
    assert (await client.delete(revoke, headers=team.as_["admin"])).status_code == 403
    again = await client.post(
        "/v1/invitations", headers=team.as_["admin"], json={"email": "ADMIN@example.com"}
    )
    assert again.status_code == 409

    # Unknown, replaced, another address's and (later) accepted tokens: all the same 404.
    async def accept(headers: dict[str, str], token: str) -> httpx.Response:
        return await client.post("/v1/invitations/accept", headers=headers, json={"token": token})

    for headers, token in [
        (bob, "echo_inv_nope"),
        (bob, first["token"]),  # replaced by the second invitation
        (eve, second["token"]),  # for bob's address
    ]:
        response = await accept(headers, token)
        assert (response.status_code, response.json()) == (404, NOT_FOUND_INVITATION)
    joined = await accept(bob, second["token"])
    assert joined.status_code == 201 and joined.json()["role"] == "owner"
    replay = await accept(bob, second["token"])
    assert (replay.status_code, replay.json()) == (404, NOT_FOUND_INVITATION)
    assert (await client.get("/v1/invitations", headers=team.as_["owner"])).json() == []

    # Revoked and expired tokens are 404 too; a pending one for a member is 409.
    revoked = await _invite(client, team.as_["owner"], "eve@example.com", "member")
    assert (
        await client.delete(f"/v1/invitations/{revoked['id']}", headers=team.as_["admin"])
    ).status_code == 204
    assert (
        await client.delete(f"/v1/invitations/{revoked['id']}", headers=team.as_["admin"])
    ).status_code == 404
    assert (await accept(eve, revoked["token"])).json() == NOT_FOUND_INVITATION
    expired, expired_hash = workspaces.new_invitation_token()
    duplicate, duplicate_hash = workspaces.new_invitation_token()
    async with app.state.service.runtime.session_factory() as session:
        session.add_all(
            [
                Invitation(
                    workspace_id=uuid.UUID(team.workspace_id),
                    email="eve@example.com",
                    role=Role.MEMBER,
                    token_hash=expired_hash,
                    expires_at=utcnow() - timedelta(seconds=1),
                ),
                Invitation(
                    workspace_id=uuid.UUID(team.workspace_id),
                    email="bob@example.com",
                    role=Role.MEMBER,
                    token_hash=duplicate_hash,
                    expires_at=utcnow() + timedelta(days=1),
                ),
            ]
        )
        await session.commit()
    assert (await accept(eve, expired)).json() == NOT_FOUND_INVITATION
    assert (await accept(bob, duplicate)).status_code == 409

    workspaces_of_bob = (await client.get("/v1/workspaces", headers=bob)).json()
    assert [(item["personal"], item["role"]) for item in workspaces_of_bob] == [
        (True, "owner"),
        (False, "owner"),
    ]
    # Nobody is invited into a personal workspace.
    personal = await client.post("/v1/invitations", headers=bob, json={"email": "eve@example.com"})
    assert personal.status_code == 409

    events = (await client.get("/v1/audit-events", headers=team.as_["owner"])).json()["items"]
    actions = [event["action"] for event in events]
    assert actions.count("member.invited") == 4  # the admin's, both of bob's, eve's
    assert actions.count("member.added") == 2  # admin and bob
    assert "member.invitation_revoked" in actions
    added = next(e for e in events if e["action"] == "member.added")
    assert added["details"] == {"role": "owner", "via": "invitation"}


async def test_roles_and_the_last_owner(client: httpx.AsyncClient) -> None:
    team = await _team(client, "admin", "member")
    owner, admin, member = (team.as_[role] for role in ("owner", "admin", "member"))
    url = {role: f"/v1/members/{user_id}" for role, user_id in team.ids.items()}

    # Only owners grant or take away the owner role.
    assert (
        await client.patch(url["member"], headers=admin, json={"role": "owner"})
    ).status_code == 403
    assert (
        await client.patch(url["owner"], headers=admin, json={"role": "viewer"})
    ).status_code == 403
    assert (await client.delete(url["owner"], headers=admin)).status_code == 403
    demoted = await client.patch(url["member"], headers=admin, json={"role": "viewer"})
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    assert (
        await client.post("/v1/experiments", headers=member, json=EXPERIMENT)
    ).status_code == 403

    # The last owner can be neither demoted nor removed, nor leave.
    for response in [
        await client.patch(url["owner"], headers=owner, json={"role": "admin"}),
        await client.delete(url["owner"], headers=owner),
    ]:
        assert response.status_code == 409
    promoted = await client.patch(url["admin"], headers=owner, json={"role": "owner"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"
    stepped_down = await client.patch(url["owner"], headers=owner, json={"role": "admin"})
    assert stepped_down.status_code == 200
    assert (await client.delete(url["admin"], headers=admin)).status_code == 409  # last owner now

    # Anyone may leave; an unknown member is 404; an API key cannot manage members.
    assert (await client.delete(url["member"], headers=member)).status_code == 204
    assert (await client.delete(url["member"], headers=admin)).status_code == 404
    assert (await client.delete(url["owner"], headers=owner)).status_code == 204  # leaves
    key = await client.post("/v1/api-keys", headers=admin, json={"name": "k"})
    as_key = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await client.get("/v1/members", headers=as_key)).status_code == 403
    assert (await client.delete(url["admin"], headers=as_key)).status_code == 403
    assert (
        await client.post("/v1/workspaces", headers=as_key, json={"name": "x"})
    ).status_code == 403

    events = (await client.get("/v1/audit-events", headers=admin)).json()["items"]
    changes = [e["details"] for e in events if e["action"] == "member.role_changed"]
    assert changes == [
        {"from": "owner", "to": "admin"},
        {"from": "admin", "to": "owner"},
        {"from": "member", "to": "viewer"},
    ]
    removals = [e["details"] for e in events if e["action"] == "member.removed"]
    assert removals == [{"role": "admin", "left": True}, {"role": "viewer", "left": True}]
