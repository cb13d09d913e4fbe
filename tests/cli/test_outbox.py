"""``echo-ai outbox``: the mails a server without SMTP wrote to its outbox folder, listed
newest first, and one mail's text with its link."""

from __future__ import annotations

import asyncio
import json
import re
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from echo_ai.app import create_app
from echo_ai.cli import app as cli
from echo_ai.config import Settings
from tests.kit import PASSWORD, wait_until


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_outbox_lists_the_mails_written_to_the_folder(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHO_AI_SECRET_KEY", raising=False)
    monkeypatch.delenv("ECHO_AI_MAIL__SMTP_HOST", raising=False)
    service = create_app(Settings(data_dir=cli_env))
    folder = cli_env / "outbox"
    async with service.router.lifespan_context(service):
        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            credentials = {"email": "ada@example.com", "password": PASSWORD}
            assert (
                await api.post("/auth/register", json={**credentials, "accept_terms": True})
            ).status_code == 201
            await wait_until(lambda: folder.exists() and len(list(folder.iterdir())) == 1)
            reset = await api.post("/auth/password-reset", json={"email": "ada@example.com"})
            assert reset.status_code == 202
            await wait_until(lambda: len(list(folder.iterdir())) == 2)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(file.stat().st_mode) == 0o600 for file in folder.iterdir())

    code, out, err = await asyncio.to_thread(invoke, "outbox", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [mail["kind"] for mail in listed] == ["reset_password", "verify_email"]  # newest first
    assert {mail["to"] for mail in listed} == {"ada@example.com"}
    assert {mail["status"] for mail in listed} == {"sent"}
    assert all(mail["file"] and Path(mail["file"]).parent == folder for mail in listed)

    code, out, err = await asyncio.to_thread(invoke, "outbox")
    assert code == 0, err
    assert "Reset your Echo AI password" in out and "Confirm your e-mail address" in out
    assert out.index("Reset your") < out.index("Confirm your")
    assert "sent" in out

    code, out, err = await asyncio.to_thread(invoke, "outbox", "show", listed[0]["id"][:8])
    assert code == 0, err
    assert "To: ada@example.com" in out and "Status: sent" in out
    assert re.search(r"/reset-password\?token=echo_pr_\S+", out)

    code, out, err = await asyncio.to_thread(
        invoke, "outbox", "show", "00000000-0000-0000-0000-000000000000"
    )
    assert code != 0 and "no mail with id" in (out + err)
