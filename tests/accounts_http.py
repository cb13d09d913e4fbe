"""Accounts over real HTTP (the ``http`` client of a live server): the synchronous
counterparts of :mod:`tests.kit`'s sign-up, sign-in and team helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.kit import PASSWORD, bearer


def register_and_login(http: httpx.Client, email: str, **headers: str) -> dict[str, str]:
    """A new user's ``Authorization`` headers (``headers`` go on both requests)."""
    body = {"email": email, "password": PASSWORD}
    registered = http.post("/auth/register", json={**body, "accept_terms": True}, headers=headers)
    assert registered.status_code == 201, registered.text
    signed_in = http.post("/auth/login", json=body, headers=headers)
    assert signed_in.status_code == 200, signed_in.text
    return bearer(signed_in.json()["access_token"])


def invite(http: httpx.Client, headers: dict[str, str], email: str, role: str) -> dict[str, Any]:
    response = http.post("/v1/invitations", headers=headers, json={"email": email, "role": role})
    assert response.status_code == 201, response.text
    invitation: dict[str, Any] = response.json()
    return invitation


def api_key(http: httpx.Client, headers: dict[str, str], scopes: list[str]) -> dict[str, Any]:
    """A new key of the caller's workspace (the creation response: ``id``, ``key``...)."""
    response = http.post("/v1/api-keys", headers=headers, json={"name": "ci", "scopes": scopes})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@dataclass
class Team:
    workspace_id: str
    as_: dict[str, dict[str, str]] = field(default_factory=dict)
    """Headers of each user (by role name), with ``X-Workspace-ID`` of the team."""
    ids: dict[str, str] = field(default_factory=dict)
    """User ids by role name."""


def create_team(http: httpx.Client, roles: tuple[str, ...]) -> Team:
    """``owner@example.com``'s team workspace, joined through invitations by one user per
    role (``{role}@example.com``)."""
    owner = register_and_login(http, "owner@example.com")
    created = http.post("/v1/workspaces", headers=owner, json={"name": "Acme"})
    assert created.status_code == 201, created.text
    team = Team(workspace_id=created.json()["id"])
    team.as_["owner"] = {**owner, "X-Workspace-ID": team.workspace_id}
    for role in roles:
        invitation = invite(http, team.as_["owner"], f"{role}@example.com", role)
        user = register_and_login(http, f"{role}@example.com")
        accepted = http.post(
            "/v1/invitations/accept", headers=user, json={"token": invitation["token"]}
        )
        assert accepted.status_code == 201, accepted.text
        team.as_[role] = {**user, "X-Workspace-ID": team.workspace_id}
    listed = http.get("/v1/members", headers=team.as_["owner"])
    assert listed.status_code == 200, listed.text
    team.ids = {member["role"]: member["user_id"] for member in listed.json()}
    return team


def audit_events(http: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The workspace's audit events, newest first (the first page: up to 100)."""
    response = http.get("/v1/audit-events", headers=headers, params={"limit": 100})
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["items"]
    return events
