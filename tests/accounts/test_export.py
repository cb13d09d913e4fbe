"""Exports of a user's data over the API: the ZIP file by file, the link's expiry, who may
download it, and the access records of exports and bulk reads of answers."""

from __future__ import annotations

import asyncio
import io
import json
import stat
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.accounts import erasure
from echo_ai.accounts import export as exports
from echo_ai.accounts.models import DataExport, ExportStatus
from echo_ai.app import create_app
from echo_ai.auth.models import User
from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor, ActorKind
from echo_ai.privacy.models import AuditEvent
from echo_ai.security.refresh import hash_token
from echo_ai.workspaces.models import Workspace
from tests.experiments.test_router import BODY
from tests.kit import (
    PASSWORD,
    app_runtime,
    create_team,
    login,
    register,
    register_and_login,
    wait_finished,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("backend")

UA = {"User-Agent": "export-test/1.0"}


async def _ready(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    requested = await client.post("/v1/account/export", headers={**headers, **UA})
    assert requested.status_code == 202, requested.text
    body: dict[str, Any] = requested.json()
    assert body["status"] == "preparing" and "token=" in body["download_url"]
    assert httpx.URL(body["download_url"]).path == f"/v1/account/exports/{body['id']}/download"

    async def ready() -> bool:
        polled = await client.get(f"/v1/account/exports/{body['id']}", headers=headers)
        assert polled.json()["status"] != "failed", polled.text
        return bool(polled.json()["status"] == "ready")

    await wait_until(ready)
    return body


async def _events(app: FastAPI, action: str) -> list[AuditEvent]:
    async with transaction(app_runtime(app).session_factory) as session:
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action)
                .order_by(AuditEvent.created_at)
            )
        )


async def test_the_export_zip_file_by_file(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    await register(client, "ada@example.com")
    tokens = await login(client, "ada@example.com")
    ada = {"Authorization": f"Bearer {tokens['access_token']}", **UA}
    created = await client.post("/v1/experiments", headers=ada, json={**BODY, "iterations": 12})
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, ada)
    workspace_id = (await client.get("/v1/workspaces", headers=ada)).json()[0]["id"]

    requested = await _ready(client, ada)
    listed = await client.get("/v1/account/exports", headers=ada)
    assert [e["id"] for e in listed.json()] == [requested["id"]]
    assert listed.json()[0]["size_bytes"] > 0

    url = httpx.URL(requested["download_url"])
    downloaded = await client.get(url.path, params=dict(url.params), headers=ada)
    assert downloaded.status_code == 200, (downloaded.headers, downloaded.text)
    assert downloaded.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(downloaded.content))
    folder = f"workspaces/{workspace_id}"
    assert sorted(archive.namelist()) == sorted(
        [
            "account.json",
            "memberships.json",
            "consents.json",
            "sessions.json",
            "audit_events.json",
            f"{folder}/workspace.json",
            f"{folder}/brand_profiles.json",
            f"{folder}/experiments/{experiment_id}.json",
        ]
    )
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"argon2" not in everything and b"password_hash" not in everything
    assert b"totp_secret" not in everything

    account = json.loads(archive.read("account.json"))
    assert account["email"] == "ada@example.com"
    assert account["two_factor_enabled"] is False and account["deleted_at"] is None
    memberships = json.loads(archive.read("memberships.json"))
    assert memberships == [
        {
            "workspace_id": workspace_id,
            "workspace_name": memberships[0]["workspace_name"],
            "personal": True,
            "role": "owner",
            "since": memberships[0]["since"],
        }
    ]
    consents = json.loads(archive.read("consents.json"))  # given at sign-up
    assert sorted((c["kind"], c["version"], c["granted"]) for c in consents) == [
        ("privacy", settings.privacy.privacy_version, True),
        ("terms", settings.privacy.terms_version, True),
    ]
    sessions = json.loads(archive.read("sessions.json"))
    assert len(sessions) == 1
    assert set(sessions[0]) == {
        "id", "created_at", "last_used_at", "expires_at", "revoked_at", "device", "ip"
    }  # fmt: skip
    actions = [event["action"] for event in json.loads(archive.read("audit_events.json"))]
    assert "auth.login_succeeded" in actions and "experiment.created" in actions
    assert "account.export_requested" in actions

    workspace = json.loads(archive.read(f"{folder}/workspace.json"))
    assert workspace["id"] == workspace_id and workspace["personal"] is True
    document = json.loads(archive.read(f"{folder}/experiments/{experiment_id}.json"))
    assert document["experiment"]["prompt"] == BODY["prompt"]
    assert len(document["rounds"]) == 1
    assert [b["provider"] for b in document["batches"]] == ["demo"]
    assert document["batches"][0]["metrics"]["iterations"] == 12
    assert "visibility" in document["batches"][0]["metrics"]
    iterations = document["iterations"]
    assert [i["index"] for i in iterations] == list(range(12))
    assert all(i["answer"] and i["extraction"] is not None for i in iterations)
    assert all("citations" in i for i in iterations)

    exports_dir = settings.data_dir / "exports"
    assert stat.S_IMODE(exports_dir.stat().st_mode) == 0o700
    (zip_file,) = exports_dir.iterdir()
    assert stat.S_IMODE(zip_file.stat().st_mode) == 0o600

    for action in ("account.export_requested", "account.export_downloaded"):
        (event,) = await _events(started_app, action)
        assert str(event.actor_user_id) == account["id"]
        assert event.user_agent == "export-test/1.0" and event.ip
        assert event.target_id == requested["id"]


async def test_only_its_user_with_its_token_downloads_an_export(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    requested = await _ready(client, ada)
    url = httpx.URL(requested["download_url"])
    token = url.params["token"]
    assert (await client.get(url.path, params={"token": token}, headers=bob)).status_code == 404
    assert (
        await client.get(f"/v1/account/exports/{requested['id']}", headers=bob)
    ).status_code == 404
    assert (await client.get("/v1/account/exports", headers=bob)).json() == []
    wrong = await client.get(url.path, params={"token": token[:-2] + "xx"}, headers=ada)
    assert wrong.status_code == 404
    assert (await client.get(url.path, params={"token": token})).status_code == 401
    assert await _events(started_app, "account.export_downloaded") == []
    assert (await client.get(url.path, params={"token": token}, headers=ada)).status_code == 200


async def test_an_expired_link_is_gone(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    requested = await _ready(client, ada)
    url = httpx.URL(requested["download_url"])
    token = url.params["token"]
    export_id = uuid.UUID(requested["id"])
    runtime = app_runtime(started_app)
    async with transaction(runtime.session_factory) as session:
        export = await session.get(DataExport, export_id)
        assert export is not None and export.finished_at is not None
        hours = settings.privacy.export_link_hours
        assert export.expires_at == export.finished_at + timedelta(hours=hours)
        user_id, expires_at = export.user_id, export.expires_at
        # Just before the end (the clock given to the use case), the link works...
        await exports.open_download(
            session,
            user_id,
            export_id,
            token,
            data_dir=settings.data_dir,
            actor=Actor.cli(),
            now=expires_at - timedelta(seconds=1),
        )
        # ...at the end it is gone.
        with pytest.raises(exports.ExportExpired):
            await exports.open_download(
                session,
                user_id,
                export_id,
                token,
                data_dir=settings.data_dir,
                actor=Actor.cli(),
                now=expires_at,
            )
        # The daily sweep deletes the file and marks it expired.
        assert await exports.expire(session, data_dir=settings.data_dir, now=expires_at) == 1
        assert await exports.expire(session, data_dir=settings.data_dir, now=expires_at) == 0
    assert list((settings.data_dir / "exports").iterdir()) == []
    gone = await client.get(url.path, params={"token": token}, headers=ada)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "export_expired"
    assert "ask for a new export" in gone.json()["error"]["message"]
    status = await client.get(f"/v1/account/exports/{export_id}", headers=ada)
    assert status.json()["status"] == "expired"


async def test_a_link_past_its_time_is_refused_before_the_sweep(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    requested = await _ready(client, ada)
    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(update(DataExport).values(expires_at=utcnow() - timedelta(minutes=1)))
    url = httpx.URL(requested["download_url"])
    gone = await client.get(url.path, params=dict(url.params), headers=ada)
    assert gone.status_code == 410, gone.text
    # Shown expired at once, though the sweep has not run yet.
    one = await client.get(f"/v1/account/exports/{requested['id']}", headers=ada)
    assert one.json()["status"] == "expired"
    listed = await client.get("/v1/account/exports", headers=ada)
    assert [e["status"] for e in listed.json()] == ["expired"]
    async with transaction(app_runtime(started_app).session_factory) as session:
        stored = await session.get_one(DataExport, uuid.UUID(requested["id"]))
        assert stored.status is ExportStatus.READY  # until the sweep


async def test_an_export_of_many_iterations_streams_in_pages(
    started_app: FastAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages smaller than the data: the keyset walk crosses page boundaries exactly."""
    from echo_ai.auth.models import User

    monkeypatch.setattr(exports, "PAGE_SIZE", 5)
    runtime = app_runtime(started_app)
    transport = httpx.ASGITransport(app=started_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ada = await register_and_login(client, "ada@example.com")
        created = await client.post("/v1/experiments", headers=ada, json={**BODY, "iterations": 23})
        await wait_finished(client, created.json()["id"], ada)
    async with transaction(runtime.session_factory) as session:
        user_id = await session.scalar(select(User.id))
    assert user_id is not None
    with (tmp_path / "out.zip").open("wb") as out:
        await exports.write_zip(runtime.session_factory, user_id, out)
    archive = zipfile.ZipFile(tmp_path / "out.zip")
    (name,) = [n for n in archive.namelist() if "/experiments/" in n]
    assert [i["index"] for i in json.loads(archive.read(name))["iterations"]] == list(range(23))


async def test_bulk_reads_of_answers_are_recorded(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    ada = {**ada, **UA}
    created = await client.post("/v1/experiments", headers=ada, json={**BODY, "iterations": 7})
    experiment_id = created.json()["id"]
    await wait_finished(client, experiment_id, ada)
    url = f"/v1/experiments/{experiment_id}/iterations"
    first = await client.get(url, headers=ada, params={"limit": 5})
    second = await client.get(
        url, headers=ada, params={"limit": 5, "cursor": first.json()["next_cursor"]}
    )
    assert second.status_code == 200
    reads = await _events(started_app, "experiment.iterations_read")
    assert [event.details["rows"] for event in reads] == [5, 2]
    assert all(e.user_agent == "export-test/1.0" and e.ip and e.actor_user_id for e in reads)
    assert {e.target_id for e in reads} == {experiment_id}

    csv = await client.get(f"/v1/experiments/{experiment_id}/export.csv", headers=ada)
    assert csv.status_code == 200
    (exported,) = await _events(started_app, "experiment.exported")
    assert exported.details == {"format": "csv", "rows": 7}
    assert exported.user_agent == "export-test/1.0" and exported.ip
    assert ExportStatus.READY  # the enum is importable from the models


async def _preparing(app: FastAPI, email: str, **values: Any) -> uuid.UUID:
    """An export of ``email`` stuck in ``preparing`` (as while its job runs), with
    ``values`` (e.g. ``created_at``); its id."""
    async with transaction(app_runtime(app).session_factory) as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        assert user_id is not None
        now = utcnow()
        export = DataExport(
            user_id=user_id,
            status=ExportStatus.PREPARING,
            token_hash=uuid.uuid4().hex * 2,
            created_at=values.pop("created_at", now),
            expires_at=now + timedelta(hours=24),
            **values,
        )
        session.add(export)
        await session.flush()
        return export.id


async def test_one_export_at_a_time_and_a_few_a_day(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    stuck = await _preparing(started_app, "ada@example.com")
    for _ in range(6):  # refused requests use none of the day's allowance
        refused = await client.post("/v1/account/export", headers=ada)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "export_in_progress"
        assert "still being prepared" in refused.json()["error"]["message"]
    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(
            update(DataExport).where(DataExport.id == stuck).values(status=ExportStatus.FAILED)
        )
    for _ in range(5):  # 5 accepted a day
        await _ready(client, ada)
    limited = await client.post("/v1/account/export", headers=ada)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    listed = await client.get("/v1/account/exports", headers=ada)
    assert len(listed.json()) == 1 + 5  # the refused one stored nothing


async def test_a_member_blocked_by_a_2fa_requirement_still_exports_and_deletes(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    team = await create_team(client, ["member"])
    async with transaction(app_runtime(started_app).session_factory) as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == uuid.UUID(team.workspace_id))
            .values(require_2fa=True)
        )
    member = team.as_["member"]  # with the team's X-Workspace-ID
    blocked = await client.get("/v1/members", headers=member)
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "two_factor_required"
    asked = await client.post("/v1/account/export", headers=member)
    assert asked.status_code == 202, asked.text
    listed = await client.get("/v1/account/exports", headers=member)
    assert listed.status_code == 200 and len(listed.json()) == 1
    one = await client.get(f"/v1/account/exports/{asked.json()['id']}", headers=member)
    assert one.status_code == 200
    assert (await client.get("/v1/account/deletion", headers=member)).status_code == 200
    deleted = await client.request(
        "DELETE", "/v1/account", headers=member, json={"password": PASSWORD}
    )
    assert deleted.status_code == 204, deleted.text


async def test_the_link_token_is_stored_hashed_like_every_other_token(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    body = await _ready(client, ada)
    token = httpx.URL(body["download_url"]).params["token"]
    async with transaction(app_runtime(started_app).session_factory) as session:
        export = await session.get(DataExport, uuid.UUID(body["id"]))
        assert export is not None
        assert export.token_hash == hash_token(token) and token not in export.token_hash


async def test_an_export_nobody_started_is_dispatched_again_once_per_while_then_given_up(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    await register(client, "ada@example.com")
    asked = utcnow() - timedelta(days=2)
    export_id = await _preparing(started_app, "ada@example.com", created_at=asked)
    factory = app_runtime(started_app).session_factory
    hour = timedelta(hours=1)

    async def sweep(at: timedelta) -> list[uuid.UUID]:
        async with transaction(factory) as session:
            return await exports.stalled(session, now=asked + at, after=hour)

    assert await sweep(timedelta(minutes=59)) == []  # its task may still be on its way
    assert await sweep(timedelta(minutes=61)) == [export_id]
    assert await sweep(timedelta(minutes=90)) == []  # dispatched again half an hour ago
    assert await sweep(timedelta(minutes=122)) == [export_id]
    async with transaction(factory) as session:  # a worker started it just now
        await session.execute(update(DataExport).values(started_at=asked + timedelta(minutes=125)))
    assert await sweep(timedelta(minutes=180)) == []
    assert await sweep(timedelta(minutes=186)) == [export_id]  # its worker is gone
    assert await sweep(exports.GIVE_UP_AFTER + timedelta(minutes=1)) == []
    async with transaction(factory) as session:
        export = await session.get(DataExport, export_id)
        assert export is not None and export.status is ExportStatus.FAILED
        assert export.error is not None and "ask for a new export" in export.error


async def test_a_preparation_leaves_an_export_started_by_another_or_already_done(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    ada = await register_and_login(client, "ada@example.com")
    factory = app_runtime(started_app).session_factory
    started = utcnow() - timedelta(minutes=5)
    export_id = await _preparing(started_app, "ada@example.com", started_at=started)

    async def prepare(stale_after: timedelta) -> DataExport:
        await exports.prepare(
            factory, export_id, data_dir=settings.data_dir, link_hours=1, stale_after=stale_after
        )
        async with transaction(factory) as session:
            export = await session.get(DataExport, export_id)
        assert export is not None
        return export

    # Started five minutes ago by another delivery, which may run for up to an hour.
    left = await prepare(timedelta(hours=1))
    assert (left.status, left.started_at, left.file_name) == (ExportStatus.PREPARING, started, None)
    # Started longer ago than a preparation may run: its worker is gone; prepared anew.
    done = await prepare(timedelta(minutes=1))
    assert done.status is ExportStatus.READY and done.started_at is not None
    assert done.started_at > started
    # A delivery of a ready export again (a re-delivery, a late duplicate): nothing.
    again = await prepare(timedelta(0))
    assert (again.finished_at, again.started_at) == (done.finished_at, done.started_at)
    listed = await client.get("/v1/account/exports", headers=ada)
    assert [e["status"] for e in listed.json()] == ["ready"]


async def test_an_export_left_preparing_by_a_stopped_process_is_prepared_at_the_next_start(
    runtime: Runtime, settings: Settings
) -> None:
    """An embedded service killed while writing an export (or stopped: the preparation
    is cancelled and leaves it ``preparing``): the next start prepares it again."""
    async with transaction(runtime.session_factory) as session:
        user = User(email="ada@example.com", password_hash="not used")
        session.add(user)
        await session.flush()
        now = utcnow()
        export = DataExport(
            user_id=user.id,
            status=ExportStatus.PREPARING,
            token_hash=uuid.uuid4().hex * 2,
            created_at=now - timedelta(minutes=5),
            started_at=now - timedelta(minutes=4),
            expires_at=now + timedelta(hours=24),
        )
        session.add(export)
        await session.flush()
        export_id = export.id
    app = create_app(settings)

    async def ready() -> bool:
        async with runtime.session_factory() as session:
            found = await session.get(DataExport, export_id)
            return found is not None and found.status is ExportStatus.READY

    async with app.router.lifespan_context(app):
        await wait_until(ready, message="the interrupted export was not prepared again")
    async with runtime.session_factory() as session:
        done = await session.get_one(DataExport, export_id)
    assert done.file_name is not None
    assert exports.file_of(settings.data_dir, done) is not None


# the second insert is seen waiting on the first in pg_stat_activity
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_two_exports_asked_for_at_the_same_instant_make_one(
    runtime: Runtime, backend: str
) -> None:
    """The second request's check runs while the first one's export is inserted but not
    committed (invisible to it): its own insert waits on the first's, then is refused."""
    factory = runtime.session_factory
    async with transaction(factory) as session:
        user = User(email="ada@example.com", password_hash="not used")
        session.add(user)

    async def prepared_by_nobody(_: uuid.UUID) -> None:
        """The test asks for exports only: none is prepared."""

    options: dict[str, Any] = {
        "prepare_later": prepared_by_nobody,
        "link_hours": 24,
        "actor": Actor.cli(),
    }

    async def waiting_on_a_lock() -> bool:
        async with factory() as probe:
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            )
        return bool(waiting)

    async def second() -> None:
        async with transaction(factory) as session:
            await exports.request(session, await session.get_one(User, user.id), **options)

    async with factory() as first, first.begin():
        await exports.request(first, await first.get_one(User, user.id), **options)
        racing = asyncio.create_task(second())
        await wait_until(waiting_on_a_lock, message="the second insert never waited")
    with pytest.raises(exports.ExportInProgress):
        await racing
    async with factory() as session:
        preparing = await session.scalar(
            select(func.count())
            .select_from(DataExport)
            .where(DataExport.user_id == user.id, DataExport.status == ExportStatus.PREPARING)
        )
    assert preparing == 1


# --- exports racing erasures ----------------------------------------------------------

KEY = b"k" * 32


def files_naming(data_dir: Path, address: str) -> list[str]:
    """The files of the exports folder that hold ``address`` in any letter case (ZIP
    entries decompressed, a partial file read as it is)."""
    found: list[str] = []
    folder = exports.exports_directory(data_dir)
    for path in sorted(folder.iterdir()) if folder.exists() else []:
        raw = path.read_bytes()
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                raw += b"".join(archive.read(name) for name in archive.namelist())
        except zipfile.BadZipFile:
            pass
        if address.lower().encode() in raw.lower():
            found.append(path.name)
    return found


class Gate:
    """Holds a preparation at the start of its ``at``-th session opened while a file of
    the given suffix is in the exports folder, until the test opens the gate."""

    def __init__(self, runtime: Runtime, data_dir: Path, *, suffix: str, at: int) -> None:
        self.folder = exports.exports_directory(data_dir)
        self.suffix, self.at, self.seen = suffix, at, 0
        self.reached, self.opened = asyncio.Event(), asyncio.Event()
        gate = self

        class HeldSession(AsyncSession):
            async def __aenter__(self) -> HeldSession:
                if not gate.opened.is_set() and gate.present():
                    gate.seen += 1
                    if gate.seen == gate.at:
                        gate.reached.set()
                        await gate.opened.wait()
                return self

        self.factory = async_sessionmaker(
            runtime.engine, class_=HeldSession, expire_on_commit=False
        )

    def present(self) -> bool:
        return self.folder.exists() and any(
            p.name.endswith(self.suffix) for p in self.folder.iterdir()
        )


async def _user(runtime: Runtime, email: str) -> User:
    async with transaction(runtime.session_factory) as session:
        user = User(email=email, password_hash="not used")
        session.add(user)
    return user


async def _asked(runtime: Runtime, user: User) -> uuid.UUID:
    async def nobody(_: uuid.UUID) -> None:
        """The test prepares the export itself."""

    async with transaction(runtime.session_factory) as session:
        requested = await exports.request(
            session,
            await session.get_one(User, user.id),
            prepare_later=nobody,
            link_hours=24,
            actor=Actor.cli(),
        )
    return requested.export.id


async def _erase(runtime: Runtime, user: User, data_dir: Path) -> None:
    async with transaction(runtime.session_factory) as session:
        await erasure.erase(
            session,
            await session.get_one(User, user.id),
            pseudonym_key=KEY,
            data_dir=data_dir,
            actor=Actor.cli(),
        )


@pytest.mark.parametrize(
    ("suffix", "at"),
    [(".part", 2), (".zip", 1)],
    ids=["while-writing", "written-not-yet-ready"],
)
async def test_an_export_being_prepared_when_its_account_is_erased_leaves_no_file(
    runtime: Runtime, settings: Settings, suffix: str, at: int
) -> None:
    ada = await _user(runtime, "Ada.Race@example.com")
    export_id = await _asked(runtime, ada)
    gate = Gate(runtime, settings.data_dir, suffix=suffix, at=at)
    preparing = asyncio.create_task(
        exports.prepare(gate.factory, export_id, data_dir=settings.data_dir, link_hours=24)
    )
    await wait_until(gate.reached.is_set, message="the preparation never reached the gate")
    assert gate.present()
    await _erase(runtime, ada, settings.data_dir)
    gate.opened.set()
    assert await preparing is None  # nothing raised: no "Task exception was never retrieved"
    assert files_naming(settings.data_dir, "ada.race@example.com") == []
    assert list(exports.exports_directory(settings.data_dir).iterdir()) == []
    async with runtime.session_factory() as session:
        assert await session.get(DataExport, export_id) is None


async def test_a_preparation_that_loses_its_export_meanwhile_deletes_its_zip(
    runtime: Runtime, settings: Settings
) -> None:
    ada = await _user(runtime, "ada@example.com")
    export_id = await _asked(runtime, ada)
    gate = Gate(runtime, settings.data_dir, suffix=".zip", at=1)
    preparing = asyncio.create_task(
        exports.prepare(gate.factory, export_id, data_dir=settings.data_dir, link_hours=24)
    )
    await wait_until(gate.reached.is_set, message="the preparation never wrote its ZIP")
    async with transaction(runtime.session_factory) as session:  # failed by the sweep
        await session.execute(update(DataExport).values(status=ExportStatus.FAILED))
    gate.opened.set()
    assert await preparing is None
    assert list(exports.exports_directory(settings.data_dir).iterdir()) == []
    async with runtime.session_factory() as session:
        export = await session.get_one(DataExport, export_id)
    assert (export.status, export.file_name) == (ExportStatus.FAILED, None)


async def _name_in_audit(runtime: Runtime, owner: User, address: str) -> None:
    """An event of ``owner``'s naming ``address`` (as an invitation's does)."""
    async with transaction(runtime.session_factory) as session:
        await audit.record(
            session,
            Action.MEMBER_INVITED,
            actor=Actor(kind=ActorKind.USER, user_id=owner.id),
            target_type="invitation",
            target_id=str(uuid.uuid4()),
            details={"email": address, "role": "viewer"},
        )


async def test_an_erasure_withdraws_the_ready_exports_of_others_that_name_the_address(
    runtime: Runtime, settings: Settings
) -> None:
    mem = await _user(runtime, "mem-a2@example.com")
    own = await _user(runtime, "own-b2@example.com")
    other = await _user(runtime, "carl@example.com")
    await _name_in_audit(runtime, own, "MEM-A2@Example.com")  # any letter case
    naming, unrelated = await _asked(runtime, own), await _asked(runtime, other)
    for export_id in (naming, unrelated):
        await exports.prepare(
            runtime.session_factory, export_id, data_dir=settings.data_dir, link_hours=24
        )
    assert len(files_naming(settings.data_dir, "mem-a2@example.com")) == 1

    await _erase(runtime, mem, settings.data_dir)

    assert files_naming(settings.data_dir, "mem-a2@example.com") == []
    async with runtime.session_factory() as session:
        withdrawn = await session.get_one(DataExport, naming)
        kept = await session.get_one(DataExport, unrelated)
    assert withdrawn.status is ExportStatus.WITHDRAWN
    assert withdrawn.error == exports.WITHDRAWN_REASON and "mem-a2" not in withdrawn.error
    assert kept.status is ExportStatus.READY
    assert [p.name for p in exports.exports_directory(settings.data_dir).iterdir()] == [
        kept.file_name
    ]
    with pytest.raises(exports.ExportNotReady):  # its owner may not download it
        async with transaction(runtime.session_factory) as session:
            await exports.open_download(
                session, own.id, naming, None, data_dir=settings.data_dir, actor=Actor.cli()
            )
    # ...and may ask again: the new one no longer names the erased person.
    again = await _asked(runtime, own)
    await exports.prepare(runtime.session_factory, again, data_dir=settings.data_dir, link_hours=24)
    async with runtime.session_factory() as session:
        assert (await session.get_one(DataExport, again)).status is ExportStatus.READY
    assert files_naming(settings.data_dir, "mem-a2@example.com") == []


async def test_an_export_of_another_being_written_during_an_erasure_is_written_again(
    runtime: Runtime, settings: Settings
) -> None:
    mem = await _user(runtime, "mem-a2@example.com")
    own = await _user(runtime, "own-b2@example.com")
    await _name_in_audit(runtime, own, "mem-a2@example.com")
    export_id = await _asked(runtime, own)
    # Held once its ZIP (naming the address) is written, before it is marked ready.
    gate = Gate(runtime, settings.data_dir, suffix=".zip", at=1)
    preparing = asyncio.create_task(
        exports.prepare(gate.factory, export_id, data_dir=settings.data_dir, link_hours=24)
    )
    await wait_until(gate.reached.is_set, message="the preparation never reached the gate")
    await _erase(runtime, mem, settings.data_dir)
    gate.opened.set()
    assert await preparing is None
    async with runtime.session_factory() as session:
        export = await session.get_one(DataExport, export_id)
    assert export.status is ExportStatus.READY, export.error
    assert files_naming(settings.data_dir, "mem-a2@example.com") == []
    assert [p.name for p in exports.exports_directory(settings.data_dir).iterdir()] == [
        export.file_name
    ]


async def test_every_entry_of_the_zip_is_dated_when_it_was_written(
    runtime: Runtime, tmp_path: Path
) -> None:
    ada = await _user(runtime, "ada@example.com")
    now = datetime(2026, 11, 27, 9, 41, 12, tzinfo=UTC)
    with (tmp_path / "out.zip").open("wb") as out:
        await exports.write_zip(runtime.session_factory, ada.id, out, now=now)
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        infos = archive.infolist()
    assert {i.filename for i in infos} >= {"account.json", "audit_events.json"}
    assert {i.date_time for i in infos} == {(2026, 11, 27, 9, 41, 12)}
    assert {i.external_attr >> 16 for i in infos} == {0o600}


# the second erasure is seen waiting on the first's advisory lock in pg_stat_activity
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_erasures_take_turns_and_both_withdraw_what_names_them(
    runtime: Runtime, settings: Settings, backend: str
) -> None:
    """Two accounts erased at once, each named in the other's ready export: the second
    waits for the first (each locks the other's exports), then both finish."""
    ann = await _user(runtime, "ann@example.com")
    bob = await _user(runtime, "bob@example.com")
    await _name_in_audit(runtime, ann, "bob@example.com")
    await _name_in_audit(runtime, bob, "ann@example.com")
    for user in (ann, bob):
        await exports.prepare(
            runtime.session_factory,
            await _asked(runtime, user),
            data_dir=settings.data_dir,
            link_hours=24,
        )
    factory = runtime.session_factory

    async def waiting_on_the_erasure_lock() -> bool:
        async with factory() as probe:
            waiting = await probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                    " AND datname = current_database()"
                )
            )
        return bool(waiting)

    async with factory() as first, first.begin():
        await erasure.erase(
            first,
            await first.get_one(User, ann.id),
            pseudonym_key=KEY,
            data_dir=settings.data_dir,
            actor=Actor.cli(),
        )
        second = asyncio.create_task(_erase(runtime, bob, settings.data_dir))
        await wait_until(waiting_on_the_erasure_lock, message="the second erasure never waited")
    await second
    assert list(exports.exports_directory(settings.data_dir).iterdir()) == []
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(DataExport)) == 0


async def test_an_account_erased_right_after_asking_for_an_export_leaves_no_file(
    client: httpx.AsyncClient, started_app: FastAPI, settings: Settings
) -> None:
    """The probe's sequence over the API: the export's preparation in the background
    races the deletion; whichever wins, nothing of the address stays on disk."""
    state = started_app.state.service
    for n in range(3):
        email = f"Racer{n}@example.com"
        headers = await register_and_login(client, email)
        asked = await client.post("/v1/account/export", headers=headers)
        assert asked.status_code == 202, asked.text
        deleted = await client.request(
            "DELETE", "/v1/account", headers=headers, json={"password": PASSWORD}
        )
        assert deleted.status_code == 204, deleted.text
        await wait_until(lambda: not state.background, message="a preparation still runs")
        assert files_naming(settings.data_dir, email) == []


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_request_is_served_on_postgresqls_generic_plans(runtime: Runtime) -> None:
    """PostgreSQL runs a prepared statement on a generic plan from its sixth run on one
    connection: the insert's ON CONFLICT must still name the one-in-preparation index
    (its predicate as SQL, which a bound parameter could not prove; it was a 500)."""
    factory = runtime.session_factory
    async with transaction(factory) as session:
        users = [User(email=f"u{n}@example.com", password_hash="not used") for n in range(3)]
        session.add_all(users)

    async def prepared_by_nobody(_: uuid.UUID) -> None:
        """The test asks for exports only: none is prepared."""

    options: dict[str, Any] = {
        "prepare_later": prepared_by_nobody,
        "link_hours": 24,
        "actor": Actor.cli(),
    }
    async with factory() as session, session.begin():
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        for user in users:
            await exports.request(session, await session.get_one(User, user.id), **options)
        with pytest.raises(exports.ExportInProgress):  # the index's refusal, not an error
            await exports.request(session, await session.get_one(User, users[0].id), **options)
