"""`echo-ai run` prints the estimate and asks before an expensive run (``--yes``; refused
without a terminal); `echo-ai experiments resume` is refused while the budget does not
cover what it would run."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from echo_ai.cli import app
from echo_ai.config import get_settings
from echo_ai.db import create_engine, create_session_factory, transaction
from echo_ai.metering.models import WorkspaceBudget
from echo_ai.providers.assumed import ASSUMED_OUTPUT_TOKENS, assumed_cost
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID
from tests.providers.bodies import body

pytestmark = pytest.mark.usefixtures("cli_env")

PROMPT = "Best CRM?"
RUN = ["run", "--prompt", PROMPT, "--brand", "HubSpot", "--competitor", "Salesforce"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def openai(fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> FakeLLMServer:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return fake_llm


def _stored_experiments() -> list[object]:
    code, out, err = invoke("experiments", "list", "--json")
    assert code == 0, err
    found: list[object] = json.loads(out)
    return found


def _set_budget(usd: Decimal) -> None:
    async def go() -> None:
        engine = create_engine(get_settings())
        try:
            async with transaction(create_session_factory(engine)) as session:
                budget = await session.get(WorkspaceBudget, LOCAL_WORKSPACE_ID)
                if budget is None:
                    session.add(WorkspaceBudget(workspace_id=LOCAL_WORKSPACE_ID, monthly_usd=usd))
                else:
                    budget.monthly_usd = usd
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_the_estimate_is_printed_and_a_cheap_run_goes_on() -> None:
    code, out, err = invoke(*RUN, "--iterations", "5", "--json")
    assert code == 0, err
    assert "estimate: $0.0000 for 5 call(s)" in err
    assert "demo:demo-synthetic-1: $0.0000" in err and "per answer: assumed" in err
    assert json.loads(out)["status"] == "completed"  # stdout stays the report


def test_above_the_threshold_without_a_terminal_it_is_refused_unless_yes(
    openai: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_AI_BILLING__CONFIRM_ABOVE_USD", "0")
    get_settings.cache_clear()
    args = [*RUN, "--provider", "openai:gpt-4o-mini", "--iterations", "4", "--json"]
    code, out, err = invoke(*args)
    assert code == 2, err
    assert "no terminal to ask on: pass --yes" in err
    assert "openai:gpt-4o-mini: $" in err
    assert openai.request_count == 0 and _stored_experiments() == []  # nothing sent or stored

    code, out, err = invoke(*args, "--yes")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed" and openai.request_count == 4


def test_resume_is_refused_until_the_budget_allows(
    openai: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run is admitted (its estimate fits the budget) but its answers are far longer
    # than the estimate assumes, so the budget stops it after the first call (one at a
    # time: no call is reserved before the first one's cost is stored).
    monkeypatch.setenv("ECHO_AI_RUNNER__CONCURRENCY_PER_PROVIDER", "1")
    per_call = assumed_cost("openai", "gpt-4o-mini", approximate_tokens(PROMPT), grounding=False)
    assert per_call is not None
    long_answer = body("openai", "chat_completion_stop_runner")
    long_answer["usage"]["completion_tokens"] = 40 * ASSUMED_OUTPUT_TOKENS
    openai.config.bodies = [long_answer]
    assert invoke("experiments", "list")[0] == 0  # the database exists
    _set_budget(per_call * 12)
    code, out, err = invoke(
        *RUN, "--provider", "openai:gpt-4o-mini", "--iterations", "12", "--json"
    )
    assert code == 1, err
    assert "the budget stopped the experiment" in err
    document = json.loads(out)
    assert document["status"] == "budget_exhausted"
    sent = openai.request_count
    assert sent < 12

    code, _, err = invoke("experiments", "resume", document["id"][:8])
    assert code == 2
    assert "the workspace's budget" in err and "raise the budget" in err
    assert openai.request_count == sent  # nothing sent

    # The budget allows it now, but a plan that leaves out OpenAI refuses the resume too.
    _set_budget(Decimal(100))
    monkeypatch.setenv("ECHO_AI_BILLING__LOCAL__PROVIDERS", '["demo"]')
    get_settings.cache_clear()
    code, _, err = invoke("experiments", "resume", document["id"][:8])
    assert code == 2
    assert "does not include openai" in err
    assert openai.request_count == sent  # nothing sent
    code, out, _ = invoke("experiments", "show", document["id"][:8], "--json")
    assert json.loads(out)["status"] == "budget_exhausted"  # nothing reopened

    monkeypatch.delenv("ECHO_AI_BILLING__LOCAL__PROVIDERS")
    get_settings.cache_clear()
    code, out, err = invoke("experiments", "resume", document["id"][:8], "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert openai.request_count == 12


def _on_a_terminal(args: list[str], answer: bytes, env: dict[str, str]) -> tuple[int, str]:
    """Run the command line with a pseudo-terminal as its stdin and stdout (as a person at
    a terminal does), answering ``answer`` to the first question; its exit code and what
    it printed."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "echo_ai.cli", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(main, answer)
                answered = True
        elif process.poll() is not None:
            break
    code = process.wait(timeout=30)
    os.close(main)
    return code, seen.decode(errors="replace")


@pytest.mark.long  # two command-line processes on a terminal
def test_at_a_terminal_an_expensive_run_asks_first(
    openai: FakeLLMServer, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_AI_BILLING__CONFIRM_ABOVE_USD", "0")
    args = [*RUN, "--provider", "openai:gpt-4o-mini", "--iterations", "3", "--json"]
    code, seen = _on_a_terminal(args, b"n\n", dict(os.environ))
    assert "Run it for about $" in seen and "[y/N]" in seen
    assert code == 2 and "not run: nothing was stored or sent" in seen
    assert openai.request_count == 0

    code, seen = _on_a_terminal(args, b"y\n", dict(os.environ))
    assert code == 0, seen
    assert openai.request_count == 3
