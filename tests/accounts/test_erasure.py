"""Deleting an account over the API: what goes, what blocks, credentials refused at once,
the audit log pseudonymised, and no trace of the address left anywhere in the database."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import JSON, String, Text, cast, func, or_, select, text

from echo_ai.accounts import erasure
from echo_ai.auth import twofactor
from echo_ai.auth.models import User
from echo_ai.db import Base, transaction, utcnow
from echo_ai.mail import sender
from echo_ai.mail.listing import text_of
from echo_ai.mail.models import OutboundMail
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import Experiment
from echo_ai.workspaces.models import Membership, Workspace
from tests.experiments.test_router import BODY
from tests.kit import (
    PASSWORD,
    api_key,
    app_runtime,
    bearer,
    create_team,
    invite,
    login,
    login_response,
    register,
    register_and_login,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("backend")

UA = {"User-Agent": "erasure-test/2.0"}


async def search_database(app: FastAPI, needle: str) -> list[tuple[str, str]]:
    """Every (table, column) of every table whose text or JSON holds ``needle``, in any
    letter case."""
    found: list[tuple[str, str]] = []
    async with transaction(app_runtime(app).session_factory) as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text | JSON):
                    continue
                text = func.lower(cast(column, Text))
                hits = await session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(text.contains(needle.lower(), autoescape=True))
                )
                if hits:
                    found.append((table.name, column.name))
    return found


async def _delete(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.request(
        "DELETE", "/v1/account", headers={**headers, **UA}, json={"password": PASSWORD, **body}
    )


async def test_a_shared_workspace_with_no_other_owner_blocks_deletion(
    client: httpx.AsyncClient,
) -> None:
    team = await create_team(client, ["viewer"])
    owner = team.as_["owner"]
    preview = await client.get("/v1/account/deletion", headers=owner)
    assert preview.status_code == 200
    assert preview.json()["allowed"] is False
    assert [w["name"] for w in preview.json()["blocking_workspaces"]] == ["Acme"]
    assert len(preview.json()["deleted_workspaces"]) == 1  # the personal one
    refused = await _delete(client, owner)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "account_deletion_blocked"
    assert "Acme" in refused.json()["error"]["message"]
    assert "make another member owner first" in refused.json()["error"]["message"]
    assert refused.json()["error"]["details"]["workspaces"][0]["id"] == team.workspace_id
    # With a second owner, the owner may go: Acme stays, the membership goes.
    promoted = await client.patch(
        f"/v1/members/{team.ids['viewer']}", headers=owner, json={"role": "owner"}
    )
    assert promoted.status_code == 200, promoted.text
    preview = await client.get("/v1/account/deletion", headers=owner)
    assert preview.json()["allowed"] is True
    assert [w["name"] for w in preview.json()["left_workspaces"]] == ["Acme"]
    assert (await _delete(client, owner)).status_code == 204
    members = await client.get("/v1/members", headers=team.as_["viewer"])
    assert [m["user_id"] for m in members.json()] == [team.ids["viewer"]]


async def test_erasure_takes_what_it_must_and_leaves_no_trace_of_the_address(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    team = await create_team(client, ["admin"])
    email = "admin@example.com"
    await login_response(client, email, "wrong password")  # a failed sign-in: audited
    tokens = await login(client, email)
    admin = {**bearer(tokens["access_token"]), **UA}
    admin_in_team = team.headers(admin)
    team_key = await api_key(client, admin_in_team, ["read"])
    personal_key = await api_key(client, admin, ["read", "write"])
    # A rule of the team (which stays) mails the admin and someone else.
    rule = await client.post(
        "/v1/alerts/rules",
        headers=team.as_["owner"],
        json={
            "name": "Team watch",
            "metrics": ["visibility"],
            "email_to": [email.upper(), "cto@example.com"],
        },
    )
    assert rule.status_code == 201, rule.text
    created = await client.post("/v1/experiments", headers=admin, json={**BODY, "iterations": 4})
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, admin)
    exported = await client.post("/v1/account/export", headers=admin)
    assert exported.status_code == 202
    async with transaction(app_runtime(started_app).session_factory) as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        user_id = user.id
        personal = await session.scalar(
            select(Workspace.id)
            .join(Membership)
            .where(Membership.user_id == user_id, Workspace.personal.is_(True))
        )
    before = await search_database(started_app, email)
    assert ("users", "email") in before and ("invitations", "email") in before
    assert ("alert_rules", "email_to") in before
    assert ("audit_events", "details") in before

    preview = (await client.get("/v1/account/deletion", headers=admin)).json()
    assert [w["id"] for w in preview["deleted_workspaces"]] == [str(personal)]
    assert [w["name"] for w in preview["left_workspaces"]] == ["Acme"]

    wrong = await _delete(client, admin, password="not my password")
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    assert (await _delete(client, admin)).status_code == 204

    # Every credential of the user is refused at once.
    assert (await client.get("/v1/workspaces", headers=admin)).status_code == 401
    assert (await client.get("/v1/experiments", headers=personal_key)).status_code == 401
    assert (await client.get("/v1/experiments", headers=team_key)).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert (await login_response(client, email)).status_code == 401

    # The team stays; the personal workspace and its experiment are gone.
    members = await client.get("/v1/members", headers=team.as_["owner"])
    assert [m["role"] for m in members.json()] == ["owner"]
    (kept,) = (await client.get("/v1/alerts/rules", headers=team.as_["owner"])).json()
    assert kept["email_to"] == ["cto@example.com"]  # the address left the team's rule
    async with transaction(app_runtime(started_app).session_factory) as session:
        assert await session.get(Workspace, personal) is None
        assert await session.get(Experiment, uuid.UUID(experiment_id)) is None
        user = await session.get(User, user_id)
        assert user is not None and user.deleted_at is not None and not user.is_active
        assert user.email.startswith("deleted-") and user.email.endswith("@invalid")
        assert user.display_name is None and user.totp_secret is None
        assert not user.password_hash.startswith("$argon2")
        masked = user.email
        theirs = list(
            await session.scalars(
                select(AuditEvent).where(
                    or_(
                        AuditEvent.actor_user_id == user_id,
                        AuditEvent.target_id == str(user_id),
                    )
                )
            )
        )
        assert theirs == []
        pseudonym = erasure.pseudonym_id(
            started_app.state.service.keys.audit_pseudonym_key, user_id
        )
        acted = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.actor_user_id == pseudonym))
        )
    actions = {event.action for event in acted}
    assert {"auth.login_succeeded", "api_key.created", "account.deleted"} <= actions
    device = erasure.pseudonym_value(
        started_app.state.service.keys.audit_pseudonym_key, "ua", UA["User-Agent"]
    )
    # One device, one pseudonym, in every event that recorded it.
    by_device = {e.action for e in acted if e.user_agent == device}
    assert {"api_key.created", "experiment.created", "account.deleted"} <= by_device
    assert all(e.user_agent is None or e.user_agent.startswith("pseudonym-") for e in acted)
    assert all(e.ip is None or e.ip.startswith("pseudonym-") for e in acted)
    (deleted,) = [event for event in acted if event.action == "account.deleted"]
    assert deleted.target_id == str(pseudonym)
    assert deleted.details["workspaces_deleted"] == [str(personal)]

    for variant in (email, email.upper(), "Admin@Example.com", str(user_id)):
        assert await search_database(started_app, variant) == [], variant
    assert ("users", "email") in await search_database(started_app, masked)
    assert ("audit_events", "details") in await search_database(started_app, masked)


async def test_two_factor_users_confirm_with_a_code(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    keys = started_app.state.service.keys
    async with transaction(app_runtime(started_app).session_factory) as session:
        user = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert user is not None
        enrolment = twofactor.begin(user, keys)
        now = utcnow()
        codes = await twofactor.confirm(
            session, user, pyotp.TOTP(enrolment.secret).at(now), keys=keys, now=now
        )
    missing = await _delete(client, ada)
    assert missing.status_code == 401, missing.text
    assert (await client.get("/v1/workspaces", headers=ada)).status_code == 200
    wrong = await _delete(client, ada, code="000000")
    assert wrong.status_code == 401
    assert (await _delete(client, ada, code=codes[0])).status_code == 204
    assert (await client.get("/v1/workspaces", headers=ada)).status_code == 401


async def test_mails_to_others_that_name_the_user_are_deleted_with_their_files(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    team = await create_team(client, ["admin"])
    email = "admin@example.com"
    admin = {**bearer((await login(client, email))["access_token"]), **UA}
    await invite(client, team.headers(admin), "carol@example.com", "viewer")
    runtime = app_runtime(started_app)
    folder = sender.outbox_dir(runtime.settings)

    def files_naming(needle: str) -> list[str]:
        return [
            path.name
            for path in folder.glob("*.eml")
            if needle.lower() in path.read_bytes().decode("utf-8", "replace").lower()
        ]

    # The invitation to Carol names its inviter (in the file; once sent, not in the row).
    await wait_until(lambda: bool(files_naming("carol@example.com")))
    assert files_naming(email) and files_naming("carol@example.com")[0] in files_naming(email)
    async with transaction(runtime.session_factory) as session:
        to_carol = list(
            await session.scalars(
                select(OutboundMail).where(OutboundMail.to_address == "carol@example.com")
            )
        )
    assert len(to_carol) == 1

    assert (await _delete(client, admin)).status_code == 204

    assert files_naming(email) == [] and files_naming("carol@example.com") == []
    assert files_naming("owner@example.com")  # the owner's own mails stay
    async with transaction(runtime.session_factory) as session:
        assert await session.get(OutboundMail, to_carol[0].id) is None
    for variant in (email, "ADMIN@example.com"):
        assert await search_database(started_app, variant) == [], variant


async def _with_2fa(app: FastAPI, email: str) -> list[str]:
    """Turn 2FA on for ``email`` directly; its recovery codes."""
    keys = app.state.service.keys
    async with transaction(app_runtime(app).session_factory) as session:
        user = await session.scalar(select(User).where(User.email == email))
        assert user is not None
        enrolment = twofactor.begin(user, keys)
        now = utcnow()
        return await twofactor.confirm(
            session, user, pyotp.TOTP(enrolment.secret).at(now), keys=keys, now=now
        )


async def test_a_blocked_deletion_does_not_use_up_a_recovery_code(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await create_team(client, ["viewer"])
    codes = await _with_2fa(started_app, "owner@example.com")
    runtime = app_runtime(started_app)
    async with transaction(runtime.session_factory) as session:
        user = await session.scalar(select(User).where(User.email == "owner@example.com"))
        assert user is not None
        with pytest.raises(erasure.DeletionBlocked):
            await erasure.erase_confirmed(
                session,
                user,
                password=PASSWORD,
                code=codes[0],
                keys=started_app.state.service.keys,
                data_dir=started_app.state.service.settings.data_dir,
                actor=Actor(),
            )
        # Refused (as the page does, which then commits): the code is still unused.
        assert await twofactor.recovery_codes_left(session, user) == len(codes)


async def test_wrong_confirmations_are_audited_and_limited_per_account(
    client: httpx.AsyncClient,
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    for _ in range(5):
        wrong = await _delete(client, ada, password="not my password")
        assert wrong.status_code == 401, wrong.text
    limited = await _delete(client, ada)  # even the right password, now
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert (await client.get("/v1/workspaces", headers=ada)).status_code == 200  # not deleted
    events = await client.get(
        "/v1/audit-events", headers=ada, params={"action": "auth.confirmation_failed"}
    )
    assert events.status_code == 200, events.text
    failed = [e for e in events.json()["items"] if e["action"] == "auth.confirmation_failed"]
    assert len(failed) == 5
    assert failed[0]["details"] == {"purpose": "delete_account", "reason": "invalid_credentials"}


async def test_erasure_leaves_no_trace_of_former_or_requested_addresses(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    runtime = app_runtime(started_app)
    folder = sender.outbox_dir(runtime.settings)
    await register(client, "bob@example.com")
    ada = {**(await register_and_login(client, "ada@example.com")), **UA}
    await login_response(client, "ada@example.com", "wrong password")  # audited, by address

    async def ask(new_email: str) -> httpx.Response:
        return await client.post(
            "/v1/account/email", headers=ada, json={"new_email": new_email, "password": PASSWORD}
        )

    async def token_to(address: str) -> str:
        async with transaction(runtime.session_factory) as session:
            mail = await session.scalar(
                select(OutboundMail).where(
                    OutboundMail.to_address == address, OutboundMail.kind == "change_email"
                )
            )
            assert mail is not None
            match = re.search(r"token=(\S+)", text_of(mail, runtime.settings))
            assert match is not None
            return match.group(1)

    # A change asked to Bob's address (replaced by the next), one confirmed, one pending.
    assert (await ask("bob@example.com")).status_code == 202
    assert (await ask("ada.two@example.com")).status_code == 202
    confirmed = await client.post(
        "/v1/account/email/confirm", json={"token": await token_to("ada.two@example.com")}
    )
    assert confirmed.status_code == 200, confirmed.text
    await login_response(client, "ada.two@example.com", "wrong password")
    assert (await ask("ada.three@example.com")).status_code == 202
    addresses = ("ada@example.com", "ada.two@example.com", "ada.three@example.com")

    def files_naming(needle: str) -> list[str]:
        return [
            path.name
            for path in folder.glob("*.eml")
            if needle.lower() in path.read_bytes().decode("utf-8", "replace").lower()
        ]

    await wait_until(lambda: bool(files_naming("ada.three@example.com")))
    for address in addresses:
        assert await search_database(started_app, address), address
    assert (await _delete(client, ada)).status_code == 204

    for address in addresses:
        assert await search_database(started_app, address) == [], address
        assert files_naming(address) == [], address
    # Bob's address is his, not Ada's to erase: his account and mails stay.
    assert ("users", "email") in await search_database(started_app, "bob@example.com")
    assert files_naming("bob@example.com")
    await login(client, "bob@example.com")


# PostgreSQL keeps dead row versions until VACUUM (docs/privacy.md)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_on_sqlite_the_raw_database_files_no_longer_hold_the_address(
    client: httpx.AsyncClient, started_app: FastAPI, backend: str
) -> None:
    """Not only the rows: the bytes of the database file and of its write-ahead log, where
    deleted values linger in free space and in older page versions."""
    email = "erase-me-7f3a@example.com"
    database = app_runtime(started_app).settings.data_dir / "echo-ai.db"
    files = (database, database.with_name(database.name + "-wal"))

    def holding(needle: bytes) -> list[str]:
        return [path.name for path in files if path.exists() and needle in path.read_bytes()]

    user = await register_and_login(client, email)
    assert (await client.post("/auth/password-reset", json={"email": email})).status_code == 202
    await wait_until(lambda: holding(b"reset-password") != [])  # the mail is stored
    assert holding(email.encode()) != []  # what the test looks for is there to find

    assert (await _delete(client, user)).status_code == 204
    # The log is emptied once the erasure has committed, in the background of the request.
    await wait_until(
        lambda: holding(email.encode()) == [], message=lambda: str(holding(email.encode()))
    )
    assert holding(b"erase-me-7f3a") == []
    # Deleted content is zeroed in place on every connection (Debian's SQLite does it by
    # default; other builds do not, hence the pragma).
    async with app_runtime(started_app).session_factory() as session:
        assert (await session.execute(text("PRAGMA secure_delete"))).scalar() == 1
