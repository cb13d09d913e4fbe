"""Team workspaces, invitations, members and the role matrix over HTTP.

Registration hashes a password with Argon2 (~50 ms): each test registers each of its
users once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.db import utcnow
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Invitation, Role
from tests.kit import create_team, invite, register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")

EXPERIMENT = {"prompt": "best crm?", "brands": {"target": {"name": "HubSpot"}}, "iterations": 2}
ROLES = ("owner", "admin", "member", "viewer")
NOT_FOUND_INVITATION = {
    "error": {"code": "not_found", "message": workspaces.NO_SUCH_INVITATION, "details": None}
}


async def test_role_matrix(client: httpx.AsyncClient) -> None:
    """Viewers cannot write, members cannot manage, admins and owners can, and a user of
    another workspace gets 404 on every endpoint (with the team's ``X-Workspace-ID``)."""
    team = await create_team(client, ("admin", "member", "viewer"))
    mine = await register_and_login(client, "outsider@example.com")
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
        await wait_finished(client, experiment_id, team.as_["owner"])

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
    team = await create_team(client, ("admin",))
    bob = await register_and_login(client, "bob@example.com")
    eve = await register_and_login(client, "eve@example.com")

    # Admins invite admins, members and viewers, but not owners; owners can.
    refused = await client.post(
        "/v1/invitations",
        headers=team.as_["admin"],
        json={"email": "bob@example.com", "role": "owner"},
    )
    assert refused.status_code == 403
    first = await invite(client, team.as_["admin"], "bob@example.com", "viewer")
    assert first["token"].startswith("echo_inv_") and first["role"] == "viewer"
    second = await invite(client, team.as_["owner"], "Bob@example.com", "owner")
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
    revoked = await invite(client, team.as_["owner"], "eve@example.com", "member")
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
                    invited_by_id=uuid.UUID(team.ids["owner"]),
                    expires_at=utcnow() - timedelta(seconds=1),
                ),
                Invitation(
                    workspace_id=uuid.UUID(team.workspace_id),
                    email="bob@example.com",
                    role=Role.MEMBER,
                    token_hash=duplicate_hash,
                    invited_by_id=uuid.UUID(team.ids["owner"]),
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
    team = await create_team(client, ("admin", "member"))
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
