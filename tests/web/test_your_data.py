"""Settings › Your data: prepare an export and download it, delete the account with the
password (what goes is named; a shared workspace without another owner blocks it)."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from echo_ai.accounts import export as exports
from echo_ai.accounts.models import DataExport, ExportStatus
from echo_ai.auth.models import Consent, User
from echo_ai.db import transaction, utcnow
from echo_ai.privacy.models import AuditEvent
from echo_ai.workspaces.models import Role, Workspace
from tests.experiments.test_router import BODY
from tests.kit import (
    PASSWORD,
    app_runtime,
    bearer,
    login,
    register,
    wait_finished,
    wait_until,
)
from tests.web.pages import HTML, page, post_form, sign_up, text_of
from tests.web.workspace_pages import add_member, new_team, team_with

pytestmark = pytest.mark.usefixtures("backend")


async def test_export_and_delete_from_the_settings(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client, "ada@example.com")
    html = await page(client, "/settings/data")
    assert "Prepare my export" in html and 'aria-current="page">Your data' in html
    prepared = await post_form(client, "/settings/data/export", token_from="/settings/data")
    assert prepared.status_code == 303
    assert "being prepared" in text_of(await page(client, prepared.headers["location"]))

    async def ready() -> bool:
        return "/download" in await page(client, "/settings/data")

    await wait_until(ready)
    link = re.search(
        r'href="(/settings/data/exports/[^"]+/download)"', await page(client, "/settings/data")
    )
    assert link
    downloaded = await client.get(link.group(1))
    assert downloaded.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(downloaded.content))
    assert json.loads(archive.read("account.json"))["email"] == "ada@example.com"

    html = await page(client, "/settings/data")
    assert "Deleted with your account" in html and "deleted-workspace" in html
    wrong = await post_form(
        client, "/settings/data/delete", {"password": "nope"}, token_from="/settings/data"
    )
    assert wrong.status_code == 422 and "the password is incorrect" in wrong.text
    session_cookies = dict(client.cookies)
    deleted = await post_form(
        client, "/settings/data/delete", {"password": PASSWORD}, token_from="/settings/data"
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/login?deleted=1"
    # The old session cookie (had the browser kept it) is refused by the server.
    for name, value in session_cookies.items():
        client.cookies.set(name, value)
    after = await client.get("/settings", headers=HTML)
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    told = await client.get("/login?deleted=1", headers=HTML)
    assert "Your account is deleted" in told.text


async def test_a_shared_workspace_without_another_owner_blocks_the_form(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client, "ada@example.com")
    team_id = await new_team(client, "Acme")
    await register(client, "bob@example.com")
    await add_member(started_app, team_id, "bob@example.com", Role.VIEWER)
    html = await page(client, "/settings/data")
    assert "make another member owner first" in text_of(html)
    assert 'action="/settings/data/delete"' not in html


async def test_pages_of_answers_shown_are_recorded(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client, "ada@example.com")
    tokens = await login(client, "ada@example.com")
    created = await client.post(
        "/v1/experiments", headers=bearer(tokens["access_token"]), json={**BODY, "iterations": 6}
    )
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, bearer(tokens["access_token"]))
    await page(client, f"/experiments/{experiment_id}/answers")
    async with transaction(app_runtime(started_app).session_factory) as session:
        (read,) = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "experiment.iterations_read")
        )
    assert read.details == {"rows": 6} and read.target_id == experiment_id
    assert read.actor_user_id is not None and read.ip


async def test_guessing_the_password_on_the_deletion_form_is_audited_and_limited(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client, "ada@example.com")
    for _ in range(5):
        wrong = await post_form(
            client, "/settings/data/delete", {"password": "nope"}, token_from="/settings/data"
        )
        assert wrong.status_code == 422 and "the password is incorrect" in wrong.text
    limited = await post_form(
        client, "/settings/data/delete", {"password": PASSWORD}, token_from="/settings/data"
    )
    assert limited.status_code == 429 and "too many requests" in text_of(limited.text)
    assert (await client.get("/settings/data", headers=HTML)).status_code == 200  # still here
    async with transaction(app_runtime(started_app).session_factory) as session:
        failed = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.confirmation_failed")
        )
        assert len(list(failed)) == 5


async def test_the_export_form_refuses_a_second_export_while_one_is_prepared(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    from tests.accounts.test_export import _preparing

    await sign_up(client, "ada@example.com")
    await _preparing(started_app, "ada@example.com")
    refused = await post_form(client, "/settings/data/export", token_from="/settings/data")
    assert refused.status_code == 409
    assert "still being prepared" in text_of(refused.text)


async def test_your_data_is_reachable_past_the_consent_gate_and_a_2fa_requirement(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    workspace_id, bob = await team_with(started_app, client, Role.MEMBER)
    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == uuid.UUID(workspace_id))
            .values(require_2fa=True)
        )
    # bob@ has no 2FA: the team's pages refuse him, his own data does not.
    assert (await bob.get("/brands", headers=HTML)).status_code == 403
    assert "Prepare my export" in await page(bob, "/settings/data")
    exported = await post_form(bob, "/settings/data/export", token_from="/settings/data")
    assert exported.status_code == 303
    # ada@ has not accepted newer terms (and the team no longer requires 2FA): the other
    # pages send her to /consent, this one and its forms do not.
    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(update(Workspace).values(require_2fa=False))
        ada_id = select(User.id).where(User.email == "ada@example.com").scalar_subquery()
        await session.execute(
            update(Consent).where(Consent.user_id == ada_id).values(version="2020-01-01")
        )
    assert (await client.get("/brands", headers=HTML)).status_code == 303
    assert "Prepare my export" in await page(client, "/settings/data")
    exported = await post_form(client, "/settings/data/export", token_from="/settings/data")
    assert exported.status_code == 303
    # And bob@, still without 2FA, deletes his account.
    deleted = await post_form(
        bob, "/settings/data/delete", {"password": PASSWORD}, token_from="/settings/data"
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/login?deleted=1"


async def test_an_export_past_its_time_shows_expired_and_a_withdrawn_one_says_why(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await sign_up(client, "ada@example.com")
    now = utcnow()
    async with transaction(app_runtime(started_app).session_factory) as session:
        user_id = await session.scalar(select(User.id).where(User.email == "ada@example.com"))
        assert user_id is not None
        for status, error, created in (
            (ExportStatus.READY, None, now - timedelta(hours=30)),  # past its link's end
            (ExportStatus.WITHDRAWN, exports.WITHDRAWN_REASON, now - timedelta(hours=1)),
        ):
            session.add(
                DataExport(
                    user_id=user_id,
                    status=status,
                    error=error,
                    token_hash=uuid.uuid4().hex * 2,
                    file_name=None if error else "export-gone.zip",
                    created_at=created,
                    expires_at=created + timedelta(hours=24),
                )
            )
    html = await page(client, "/settings/data")
    statuses = re.findall(r'<td class="export-status">(\w+)', html)
    assert statuses == ["withdrawn", "expired"]
    assert "/download" not in html
    assert "named a person who has since deleted their account" in text_of(html)
