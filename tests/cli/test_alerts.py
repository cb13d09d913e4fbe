"""``echo-ai alerts``: create (the webhook's secret printed once), list and history in text
and --json, delete; a rule fires on the run that changed, evaluated by the scheduler's tick
(as ``echo-ai serve`` and ``echo-ai beat`` do for a run no job evaluated)."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from echo_ai.alerts import jobs
from echo_ai.alerts.models import AlertRule
from echo_ai.alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from echo_ai.cli import app
from echo_ai.config import get_settings
from echo_ai.credentials.vault import Vault
from echo_ai.db import utcnow
from echo_ai.execution.runtime import open_runtime
from echo_ai.security.keys import KeyRing
from tests.alerts.receiver import Receiver, webhook_receiver
from tests.cli.test_significance import run_again

pytestmark = pytest.mark.usefixtures("cli_env")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setenv("ECHO_AI_ALERTS__ALLOW_PRIVATE_WEBHOOK_URLS", "true")
    get_settings.cache_clear()
    with webhook_receiver() as running:
        yield running  # type: ignore[misc]


def tick() -> None:
    async def go() -> None:
        settings = get_settings()
        async with open_runtime(settings, executor="local") as runtime:
            await jobs.on_tick(runtime.session_factory, utcnow(), settings)

    asyncio.run(go())


def test_create_list_fire_history_delete(receiver: Receiver) -> None:
    code, out, err = invoke(
        "run", "--prompt", "Best CRM?", "--brand", "HubSpot", "--competitor", "Salesforce",
        "--iterations", "60", "--demo-probability", "HubSpot=0.2", "--json",
    )  # fmt: skip
    assert code == 0, err
    experiment_id = json.loads(out)["id"]

    code, out, err = invoke(
        "alerts", "create", "HubSpot visibility", "--experiment", experiment_id,
        "--metric", "visibility", "--min-effect", "10", "--email", "team@example.com",
        "--webhook", receiver.url, "--slack", "--json",
    )  # fmt: skip
    assert code == 0, err
    rule = json.loads(out)
    secret = rule["webhook_secret"]
    assert secret.startswith("whsec_") and rule["webhook_format"] == "slack"

    code, out, err = invoke("alerts", "list")
    assert code == 0, err
    assert rule["id"] in out and "visibility" in out and "team@example.com" in out
    assert "whsec_" not in out
    listed = json.loads(invoke("alerts", "list", "--json")[1])
    assert [r["id"] for r in listed] == [rule["id"]] and "webhook_secret" not in listed[0]

    run_again(experiment_id, {"HubSpot": 0.95})  # no job evaluates it here: the tick does
    tick()
    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert verify(
        secret,
        timestamp=request.headers[TIMESTAMP_HEADER],
        body=request.body,
        signed=request.headers[SIGNATURE_HEADER],
        now=float(request.headers[TIMESTAMP_HEADER]),
    )
    slack = json.loads(request.body)
    assert "HubSpot visibility" in slack["text"]
    assert [block["type"] for block in slack["blocks"]][:2] == ["header", "section"]
    assert "visibility, all providers" in slack["blocks"][1]["text"]["text"]
    tick()  # evaluated once: nothing more is sent
    assert len(receiver.received) == 1

    code, out, err = invoke("alerts", "history", "--experiment", experiment_id)
    assert code == 0, err
    assert "run 2 vs 1" in out and "SYNTHETIC" in out and "visibility, all providers" in out
    assert "webhook" in out and "sent" in out and "email team@example.com: mailed" in out
    (alert,) = json.loads(invoke("alerts", "history", "--json")[1])
    assert alert["round"] == 2 and alert["synthetic"] is True

    code, out, err = invoke("alerts", "delete", rule["id"])
    assert code == 0, err
    assert json.loads(invoke("alerts", "list", "--json")[1]) == []
    assert json.loads(invoke("alerts", "history", "--json")[1]) == []


def test_bad_input_is_a_clear_error() -> None:
    code, _, err = invoke("alerts", "create", "x", "--metric", "vibes")
    assert code != 0 and "metrics" in err
    code, _, err = invoke("alerts", "create", "x", "--webhook", "http://127.0.0.1:9/hook")
    assert code != 0 and "private" in err
    code, _, err = invoke("alerts", "delete", "00000000-0000-4000-8000-000000000001")
    assert code != 0 and "no such alert rule" in err


OLD = "o" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*"
NEW = "n" * 8 + "Hb6#qW1!zX4$cV7%bN0^mK3&jL9*gF2@"


def test_a_secret_key_rotation_carries_the_webhook_secrets(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_AI_SECRET_KEY", OLD)
    get_settings.cache_clear()
    code, out, err = invoke("alerts", "create", "Any", "--webhook", receiver.url, "--json")
    assert code == 0, err
    secret = json.loads(out)["webhook_secret"]

    monkeypatch.setenv("ECHO_AI_SECRET_KEY", NEW)
    monkeypatch.setenv("ECHO_AI_PREVIOUS_SECRET_KEYS", OLD)
    get_settings.cache_clear()
    code, out, err = invoke("provider-keys", "rotate")
    assert code == 0, err
    assert "re-encrypted 1 alert webhook secret(s) under the current secret key" in out

    async def stored() -> str:
        async with (
            open_runtime(get_settings(), executor="local") as runtime,
            runtime.session_factory() as session,
        ):
            token = await session.scalar(select(AlertRule.webhook_secret))
        assert token is not None and secret not in token
        return Vault(KeyRing(current=NEW)).decrypt(token)  # the old key is not needed

    assert asyncio.run(stored()) == secret
