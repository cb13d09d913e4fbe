"""Helpers of the page tests: teams made through the pages (or joined directly in the
database where the invitation flow is not what is tested), switching workspaces, users
signed in to both the pages and the API, experiments stored but never started."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.auth.models import User
from echo_ai.db import transaction
from echo_ai.experiments import service as experiment_service
from echo_ai.workspaces.models import Membership, Role, Workspace
from tests.factories import experiment_input
from tests.kit import app_runtime, register_and_login
from tests.web.pages import HTML, origin, page, post_form, sign_in, sign_up, text_of


async def new_team(client: httpx.AsyncClient, name: str = "Acme") -> str:
    """The signed-in user creates a team workspace through the settings page (it is then
    the one the pages show); its id."""
    response = await post_form(
        client, "/settings/workspaces", {"new_name": name}, token_from="/settings"
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/settings?done=created"
    workspace_id = client.cookies.get("echo_workspace")
    assert workspace_id
    return workspace_id


async def add_member(app: FastAPI, workspace_id: str, email: str, role: Role) -> None:
    """Put an existing user in a workspace with a role, directly (for tests of what a
    role sees, not of the invitation flow)."""
    async with transaction(app_runtime(app).session_factory) as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        session.add(Membership(workspace_id=uuid.UUID(workspace_id), user_id=user_id, role=role))


async def switch_to(client: httpx.AsyncClient, workspace_id: str) -> None:
    response = await post_form(client, "/workspace", {"workspace_id": workspace_id, "next": "/"})
    assert response.status_code == 303
    assert client.cookies.get("echo_workspace") == workspace_id


def second_client(app: FastAPI) -> httpx.AsyncClient:
    """Another browser on the same (started) app."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def team_with(
    app: FastAPI, client: httpx.AsyncClient, role: Role, email: str = "bob@example.com"
) -> tuple[str, httpx.AsyncClient]:
    """An owner (``ada@``, signed in on ``client``) with a team workspace, and a second
    client signed in as ``email`` with ``role`` in it, looking at it."""
    await sign_up(client)
    workspace_id = await new_team(client)
    other = second_client(app)
    await sign_up(other, email)
    await add_member(app, workspace_id, email, role)
    await switch_to(other, workspace_id)
    return workspace_id, other


async def personal_workspace(app: FastAPI, email: str) -> uuid.UUID:
    async with transaction(app_runtime(app).session_factory) as session:
        found = await session.scalar(
            select(Workspace.id)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email, Workspace.personal.is_(True))
        )
        assert found is not None
        return found


async def forged(client: httpx.AsyncClient, path: str, data: dict[str, str] | None = None) -> int:
    """The status of a POST with a valid CSRF token (from the overview), as a page's
    form would send it."""
    response = await post_form(client, path, data or {})
    return response.status_code


async def without_csrf(client: httpx.AsyncClient, path: str) -> int:
    response = await client.post(path, data={}, headers=origin(client))
    return response.status_code


async def signed_in(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, str]:
    """A user signed in to the pages (session cookie); their API headers are returned."""
    headers = await register_and_login(client, email)
    await sign_in(client, email)
    return headers


async def queued_experiment(app: FastAPI, email: str = "ada@example.com", **overrides: Any) -> str:
    """An experiment stored and planned but never started: it stays queued."""
    workspace_id = await personal_workspace(app, email)
    async with transaction(app_runtime(app).session_factory) as session:
        experiment = await experiment_service.create(
            session, experiment_input(**overrides), chunk_size=10, workspace_id=workspace_id
        )
        return str(experiment.id)


__all__ = ["HTML", "page", "text_of"]
