"""``echo-ai provider-keys``: the key comes from a hidden prompt or a file, never the
command line; listings show its last four characters; ``rotate`` carries stored keys
through a secret-key rotation, after which the runner reads them with the new secret only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from echo_ai.cli import app as cli
from echo_ai.config import Settings, get_settings
from echo_ai.credentials import store
from echo_ai.credentials.models import ProviderCredential
from echo_ai.credentials.vault import Vault
from echo_ai.db import transaction
from echo_ai.execution.runtime import open_runtime
from echo_ai.security.keys import KeyRing
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID

OLD = "o" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*"
NEW = "n" * 8 + "Hb6#qW1!zX4$cV7%bN0^mK3&jL9*gF2@"
LOST = "x" * 8 + "Tr5!eW2@qA8#sD1$fG4%hJ7^kL0&zX3*"
OPENAI_KEY = "sk-cli-openai-Secret-7731"
ANTHROPIC_KEY = "sk-ant-cli-Secret-4402"


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def _secrets(monkeypatch: pytest.MonkeyPatch, current: str, *previous: str) -> None:
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", current)
    monkeypatch.setenv("ECHO_AI_PREVIOUS_SECRET_KEYS", ",".join(previous))
    get_settings.cache_clear()


async def _read(
    data_dir: Path, ring: KeyRing
) -> dict[str, store.WorkspaceKey | store.UnreadableKey]:
    found: dict[str, store.WorkspaceKey | store.UnreadableKey] = {}
    settings = Settings(data_dir=data_dir)
    async with (
        open_runtime(settings, executor="local") as runtime,
        transaction(runtime.session_factory) as session,
    ):
        for vendor in ("openai", "anthropic"):
            key = await store.for_batch(session, LOCAL_WORKSPACE_ID, vendor, lambda: Vault(ring))
            assert key is not None
            found[vendor] = key
        tokens = list(await session.scalars(select(ProviderCredential.api_key_encrypted)))
    assert tokens and all(OPENAI_KEY not in t and ANTHROPIC_KEY not in t for t in tokens)
    return found


def _plain(found: dict[str, store.WorkspaceKey | store.UnreadableKey]) -> dict[str, str | None]:
    return {v: k.api_key if isinstance(k, store.WorkspaceKey) else None for v, k in found.items()}


async def test_set_list_rotate_and_run_through_a_secret_key_rotation(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer
) -> None:
    _secrets(monkeypatch, OLD)
    key_file = tmp_path / "openai.key"
    key_file.write_text(OPENAI_KEY + "\n")
    code, out, err = await asyncio.to_thread(
        invoke, "provider-keys", "set", "openai", "--key-file", str(key_file)
    )
    assert code == 0, err
    assert out.strip() == f"stored the openai key ...{OPENAI_KEY[-4:]}"
    code, out, err = await asyncio.to_thread(
        invoke, "provider-keys", "set", "anthropic", input=ANTHROPIC_KEY + "\n"
    )
    assert code == 0, err
    assert ANTHROPIC_KEY not in out + err  # the prompt does not echo it

    code, out, err = await asyncio.to_thread(invoke, "provider-keys", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"anthropic  ...{ANTHROPIC_KEY[-4:]}  set ")
    assert lines[1].startswith(f"openai  ...{OPENAI_KEY[-4:]}  set ")
    assert OPENAI_KEY not in out and ANTHROPIC_KEY not in out

    # The operator rotates the secret key: the old one moves to the previous keys.
    _secrets(monkeypatch, NEW, OLD)
    both = {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY}
    assert _plain(await _read(cli_env, KeyRing(current=NEW, previous=(OLD,)))) == both
    assert _plain(await _read(cli_env, KeyRing(current=NEW))) == {
        "openai": None,
        "anthropic": None,
    }  # not yet rotated: the new secret alone cannot read them

    code, out, err = await asyncio.to_thread(invoke, "provider-keys", "rotate")
    assert code == 0, err
    assert out.strip() == "re-encrypted 2 provider key(s) under the current secret key"
    assert _plain(await _read(cli_env, KeyRing(current=NEW))) == both

    # The old secret is dropped: a run of the command line uses the workspace's key.
    _secrets(monkeypatch, NEW)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    get_settings.cache_clear()
    code, out, err = await asyncio.to_thread(
        invoke,
        "run",
        "--prompt",
        "Best CRM?",
        "--brand",
        "HubSpot",
        "--provider",
        "openai:gpt-4o-mini",
        "--iterations",
        "2",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert fake_llm.credentials == [OPENAI_KEY, OPENAI_KEY]

    code, out, err = await asyncio.to_thread(invoke, "provider-keys", "delete", "openai")
    assert code == 0, err
    code, out, err = await asyncio.to_thread(invoke, "provider-keys", "delete", "openai")
    assert code == 2
    assert err.strip() == "error: this workspace has no stored openai key"
    code, out, _ = await asyncio.to_thread(invoke, "provider-keys", "list")
    assert [line.split()[0] for line in out.splitlines()] == ["anthropic"]


async def test_rotate_names_keys_no_configured_secret_decrypts(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _secrets(monkeypatch, LOST)
    code, _, err = await asyncio.to_thread(
        invoke, "provider-keys", "set", "gemini", input="AIza-cli-Secret-0001\n"
    )
    assert code == 0, err
    _secrets(monkeypatch, NEW)  # the secret was replaced without keeping the old one
    code, out, err = await asyncio.to_thread(invoke, "provider-keys", "rotate")
    assert code == 1
    assert out.strip() == "re-encrypted 0 provider key(s) under the current secret key"
    assert f"workspace {LOCAL_WORKSPACE_ID}: the gemini key cannot be decrypted" in err
    assert "Traceback" not in err


async def test_the_key_is_never_taken_from_the_command_line_and_bad_input_is_one_line(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _secrets(monkeypatch, NEW)
    code, _, err = await asyncio.to_thread(invoke, "provider-keys", "set", "openai", OPENAI_KEY)
    assert code == 2  # no argument takes a key
    assert "unexpected extra argument" in err
    code, _, err = await asyncio.to_thread(
        invoke, "provider-keys", "set", "openai_compatible", input=OPENAI_KEY + "\n"
    )
    assert code == 2
    assert err.strip() == "error: openai_compatible needs a base_url (the server's API address)"
    code, _, err = await asyncio.to_thread(
        invoke,
        "provider-keys",
        "set",
        "openai-compatible",
        "--base-url",
        "http://127.0.0.1:11434/v1",
        input=OPENAI_KEY + "\n",
    )
    assert code == 2
    assert "is at 127.0.0.1" in err and OPENAI_KEY not in err
    code, _, err = await asyncio.to_thread(invoke, "provider-keys", "set", "mistral", input="x\n")
    assert code == 2
    assert "can store keys for openai, anthropic" in err
    code, _, err = await asyncio.to_thread(
        invoke, "provider-keys", "set", "openai", input="short\n"
    )
    assert code == 2
    assert "at least 8" in err
    code, out, _ = await asyncio.to_thread(invoke, "provider-keys", "list")
    assert out == ""


async def test_a_key_file_that_is_not_text_is_named(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _secrets(monkeypatch, OLD)
    key_file = tmp_path / "openai.key"
    key_file.write_bytes(b"PK\x03\x04\xc8\xff\xfe")
    code, _, err = await asyncio.to_thread(
        invoke, "provider-keys", "set", "openai", "--key-file", str(key_file)
    )
    assert code == 2
    assert f"error: {key_file} is not a text file holding a key" in err
