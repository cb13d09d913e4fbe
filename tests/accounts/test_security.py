"""The account-security use cases directly (what the routes' own checks do not show)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.accounts import security
from echo_ai.auth.models import User
from echo_ai.db import transaction
from echo_ai.errors import AppError
from echo_ai.privacy.audit import Actor, ActorKind
from echo_ai.workspaces.models import Membership, Workspace
from tests.kit import app_runtime, register

pytestmark = pytest.mark.usefixtures("backend")


async def test_any_change_of_the_workspace_requirement_needs_the_owners_2fa(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await register(client, "ada@example.com")
    async with transaction(app_runtime(started_app).session_factory) as session:
        user = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert user is not None
        workspace = await session.scalar(
            select(Workspace)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user.id)
        )
        assert workspace is not None
        workspace.require_2fa = True  # as if set while she still had 2FA
        actor = Actor(kind=ActorKind.USER, user_id=user.id)
        with pytest.raises(AppError) as lifting:
            await security.set_workspace_requirement(session, workspace, user, False, actor=actor)
        assert lifting.value.status_code == 409 and "two-factor" in lifting.value.message
        assert workspace.require_2fa
        # Not a change: nothing to refuse.
        await security.set_workspace_requirement(session, workspace, user, True, actor=actor)
