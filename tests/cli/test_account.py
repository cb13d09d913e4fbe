"""``echo-ai account export``, ``erase`` and ``reset-2fa``: an operator's answers to
requests by mail, with the API's rules and audited with actor ``cli``."""

from __future__ import annotations

import asyncio
import json
import stat
import zipfile
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from echo_ai.auth import service as auth_service
from echo_ai.auth import twofactor
from echo_ai.auth.models import RecoveryCode, User
from echo_ai.auth.schemas import Credentials, Registration
from echo_ai.auth.service import TokenSettings
from echo_ai.cli import app as cli
from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import open_runtime
from echo_ai.mail.models import OutboundMail
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.security.credentials import Refusal
from echo_ai.security.keys import load_key_ring
from echo_ai.security.tokens import TokenSigner
from echo_ai.workspaces import service as workspaces
from echo_ai.workspaces.models import Membership, Role
from tests.kit import PASSWORD


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


async def _register(data_dir: Path, *emails: str) -> None:
    settings = Settings(data_dir=data_dir)
    async with (
        open_runtime(settings, executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        for email in emails:
            await workspaces.register(
                session,
                Registration(email=email, password=PASSWORD, accept_terms=True),
                actor=Actor(),
                settings=settings,
            )


async def _audit(data_dir: Path) -> list[AuditEvent]:
    async with (
        open_runtime(Settings(data_dir=data_dir), executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.created_at)))


async def test_export_writes_the_zip(cli_env: Path, tmp_path: Path) -> None:
    await _register(cli_env, "ada@example.com")
    out = tmp_path / "ada.zip"
    code, stdout, stderr = await asyncio.to_thread(
        invoke, "account", "export", "ADA@example.com", "--out", str(out)
    )
    assert code == 0, stderr
    assert f"wrote {out}" in stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    archive = zipfile.ZipFile(out)
    assert {"account.json", "memberships.json", "sessions.json"} <= set(archive.namelist())
    assert json.loads(archive.read("account.json"))["email"] == "ada@example.com"
    event = (await _audit(cli_env))[-1]
    assert (event.action, event.actor_type, event.target_type) == (
        "account.export_requested",
        "cli",
        "user",
    )
    code, _, stderr = await asyncio.to_thread(invoke, "account", "export", "nobody@example.com")
    assert code == 2 and "no account with the e-mail address nobody@example.com" in stderr


async def test_erase_shows_what_goes_and_keeps_the_rules(cli_env: Path) -> None:
    await _register(cli_env, "ada@example.com", "bob@example.com")
    settings = Settings(data_dir=cli_env)
    async with (
        open_runtime(settings, executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        ada = await session.scalar(select(User).where(User.email == "ada@example.com"))
        bob = await session.scalar(select(User).where(User.email == "bob@example.com"))
        assert ada is not None and bob is not None
        team = await workspaces.create_workspace(
            session, ada, "Acme", actor=Actor.cli(), settings=settings
        )
        session.add(Membership(workspace_id=team.id, user_id=bob.id, role=Role.VIEWER))

    code, stdout, stderr = await asyncio.to_thread(invoke, "account", "erase", "ada@example.com")
    assert code == 1
    assert "blocks: workspace 'Acme'" in stdout and "make another member owner first" in stderr

    # Bob may go: his personal workspace goes with him, he leaves Acme. Asked to confirm.
    code, stdout, stderr = await asyncio.to_thread(
        invoke, "account", "erase", "bob@example.com", input="n\n"
    )
    assert code == 1 and "nothing erased" in stderr
    assert "deleted with the account: workspace" in stdout
    assert "left: workspace 'Acme'" in stdout
    code, stdout, stderr = await asyncio.to_thread(
        invoke, "account", "erase", "bob@example.com", "--yes"
    )
    assert code == 0, stderr
    assert "erased: the account is now deleted-" in stderr
    async with (
        open_runtime(settings, executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        erased = await session.get(User, bob.id)
        assert erased is not None and erased.deleted_at is not None
        assert erased.email.endswith("@invalid")
        members = list(
            await session.scalars(
                select(Membership.user_id).where(Membership.workspace_id == team.id)
            )
        )
        assert members == [ada.id]
    deleted = (await _audit(cli_env))[-1]
    assert (deleted.action, deleted.actor_type) == ("account.deleted", "cli")
    assert deleted.target_id != str(bob.id)
    code, _, stderr = await asyncio.to_thread(invoke, "account", "erase", "bob@example.com")
    assert code == 2 and "no account" in stderr


async def test_reset_2fa_turns_it_off_ends_the_sessions_and_tells_the_user(cli_env: Path) -> None:
    """For a user who lost both the authenticator and the recovery codes."""
    await _register(cli_env, "ada@example.com")
    settings = Settings(data_dir=cli_env)
    keys = load_key_ring(settings)
    async with (
        open_runtime(settings, executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        ada = await session.scalar(select(User).where(User.email == "ada@example.com"))
        assert ada is not None
        enrolment = twofactor.begin(ada, keys)
        now = utcnow()
        await twofactor.confirm(
            session, ada, pyotp.TOTP(enrolment.secret).at(now), keys=keys, now=now
        )
        tokens = TokenSettings(
            signer=TokenSigner(keys.signing_keys(), issuer="echo-ai", audience="echo-ai-api"),
            refresh_ttl=timedelta(days=1),
            access_ttl=timedelta(minutes=5),
        )
        pair = await auth_service.issue_tokens(session, ada, tokens=tokens)

    code, _, stderr = await asyncio.to_thread(
        invoke, "account", "reset-2fa", "ada@example.com", input="n\n"
    )
    assert code == 1 and "nothing changed" in stderr
    code, _, stderr = await asyncio.to_thread(
        invoke, "account", "reset-2fa", "ADA@example.com", "--yes"
    )
    assert code == 0, stderr
    assert "two-factor authentication is off for ADA@example.com; 1 session(s) ended" in stderr

    async with (
        open_runtime(settings, executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        reset = await session.get(User, ada.id)
        assert reset is not None and not twofactor.enabled(reset)
        assert reset.totp_secret is None
        left = await session.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == ada.id)
        )
        assert left == 0
        refused = await auth_service.refresh(session, pair.refresh_token, tokens=tokens)
        assert refused is Refusal.ENDED
        # The password alone signs in again.
        await auth_service.authenticate(
            session, Credentials(email="ada@example.com", password=PASSWORD)
        )
        notices = list(
            await session.scalars(
                select(OutboundMail).where(OutboundMail.to_address == "ada@example.com")
            )
        )
        assert any("turned off by an operator" in mail.text_body for mail in notices)
    event = (await _audit(cli_env))[-1]
    assert (event.action, event.actor_type, event.target_id) == (
        "auth.2fa_reset",
        "cli",
        str(ada.id),
    )
    assert event.details == {"sessions_revoked": 1}

    # Off already, or no such account: a one-line error.
    code, _, stderr = await asyncio.to_thread(
        invoke, "account", "reset-2fa", "ada@example.com", "--yes"
    )
    assert code != 0 and "two-factor authentication is not on for ada@example.com" in stderr
    code, _, stderr = await asyncio.to_thread(
        invoke, "account", "reset-2fa", "nobody@example.com", "--yes"
    )
    assert code == 2 and "no account with the e-mail address nobody@example.com" in stderr


async def test_export_never_overwrites_a_file(cli_env: Path, tmp_path: Path) -> None:
    await _register(cli_env, "ada@example.com")
    load_key_ring(Settings(data_dir=cli_env))  # the embedded default's key, made once
    key_file = cli_env / "secret_key"
    key = key_file.read_bytes()
    code, stdout, stderr = await asyncio.to_thread(
        invoke, "account", "export", "ada@example.com", "--out", str(key_file)
    )
    assert code == 1 and not stdout
    assert f"error: {key_file} exists already: the export never overwrites a file" in stderr
    assert key_file.read_bytes() == key
    # Nothing was exported, so nothing was audited as such.
    assert "account.export_requested" not in [e.action for e in await _audit(cli_env)]
    # The key still works: a command that needs it runs.
    code, _, stderr = await asyncio.to_thread(
        invoke, "account", "erase", "nobody@example.com", "--yes"
    )
    assert code == 2 and "no account with the e-mail address nobody@example.com" in stderr


async def test_a_key_file_that_holds_no_key_is_named(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_key_ring(Settings(data_dir=cli_env))
    key_file = cli_env / "secret_key"
    key_file.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xc8\xff\xfe")  # a ZIP's start
    code, _, stderr = await asyncio.to_thread(
        invoke, "account", "erase", "ada@example.com", "--yes"
    )
    assert code == 2
    assert f"Secret key file {key_file} does not hold a key" in stderr
    assert "codec" not in stderr
    # The same for a key given as a file (ECHO_AI_SECRET_KEY_FILE).
    given = tmp_path / "given_key"
    given.write_bytes(b"\xc8\xff" * 20)
    monkeypatch.setenv("ECHO_AI_SECRET_KEY_FILE", str(given))
    code, _, stderr = await asyncio.to_thread(
        invoke, "account", "erase", "ada@example.com", "--yes"
    )
    assert code == 2
    assert f"ECHO_AI_SECRET_KEY_FILE: {given} is not a text file" in stderr
