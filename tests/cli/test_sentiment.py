"""`echo-ai experiments show` prints each brand's sentiment, and --json has it."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest

from echo_ai.cli.flows import in_runtime
from echo_ai.config import get_settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import sentiment_judge
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.registry import ProviderSpec
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.cli.test_experiments import _run_demo, invoke

pytestmark = pytest.mark.usefixtures("cli_env")


def test_show_prints_sentiment_per_brand_and_json_has_it() -> None:
    experiment_id = str(_run_demo(30)["id"])
    code, out, err = invoke("experiments", "show", experiment_id, "--json")
    assert code == 0, err
    document = json.loads(out)
    sentiment = document["combined"]["sentiment"]
    hubspot = sentiment["HubSpot"]
    assert hubspot["answers"] == document["combined"]["mention_rates"]["HubSpot"]["numerator"]
    assert (
        hubspot["positive"]["numerator"]
        + hubspot["neutral"]["numerator"]
        + hubspot["negative"]["numerator"]
        == hubspot["answers"]
    )

    code, out, err = invoke("experiments", "show", experiment_id)
    assert code == 0, err
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "sentiment: HubSpot" in line)
    assert f"{hubspot['score']['value']:+.2f}" in lines[at]
    assert f"n={hubspot['answers']}" in lines[at]
    shares = "/".join(
        f"{hubspot[k]['value'] * 100:.0f}%" for k in ("positive", "neutral", "negative")
    )
    assert "pos/neu/neg" in lines[at + 1] and shares in lines[at + 1]
    # The table still fits 80 columns: no metric's name is wrapped onto two lines.
    assert any("cost per answer" in line for line in lines)
    assert "SYNTHETIC" in out


def test_judge_with_the_demo_judge_names_the_scorer_in_show_and_json() -> None:
    experiment_id = str(_run_demo(8)["id"])
    code, out, err = invoke("experiments", "judge", experiment_id[:8], "--provider", "demo")
    assert code == 0, err
    assert "(synthetic)" in err and "judging run 1: 8 complete answers" in err
    assert "8 of 8 answers done" in err  # the progress, chunk by chunk
    assert "sentiment judging by demo:demo-synthetic-1 (SYNTHETIC" in out
    assert "of run 1: completed" in out
    code, out, err = invoke("experiments", "show", experiment_id, "--json")
    assert code == 0, err
    document = json.loads(out)
    judged = document["sentiment_judge"]
    assert judged["scorer"] == "judge:demo:demo-synthetic-1" and judged["synthetic"] is True
    hubspot = document["combined"]["sentiment"]["HubSpot"]
    assert hubspot["scorers"] == {"judge:demo:demo-synthetic-1": hubspot["answers"]}
    code, out, err = invoke("experiments", "show", experiment_id)
    assert code == 0, err
    assert "  by judge:demo:demo-synthetic-1" in out
    assert "sentiment judging by demo:demo-synthetic-1" in out


def test_judge_json_and_a_costly_judging_needs_yes(
    fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.base_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ECHO_AI_BILLING__CONFIRM_ABOVE_USD", "0.0001")
    experiment_id = str(_run_demo(4)["id"])
    code, out, err = invoke(
        "experiments", "judge", experiment_id, "--provider", "openai:gpt-4o-mini"
    )
    assert code == 2 and "pass --yes" in err
    assert fake_llm.request_count == 0
    code, out, err = invoke(
        "experiments", "judge", experiment_id, "--provider", "openai:gpt-4o-mini", "--yes",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    judged = json.loads(out)
    assert judged["status"] == "completed" and judged["read"] == judged["answers"] == 4
    assert judged["judged"] == fake_llm.request_count > 0
    assert Decimal(judged["cost_usd"]) > 0
    code, out, err = invoke("costs", "--by", "purpose", "--json")
    assert code == 0, err
    [line] = [x for x in json.loads(out)["lines"] if x["key"] == "sentiment_judge"]
    assert Decimal(line["cost_usd"]) == Decimal(judged["cost_usd"])


def test_an_interrupted_judging_is_resumed_from_where_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sentiment_judge, "CHUNK", 5)
    experiment_id = str(_run_demo(12)["id"])

    async def interrupted(runtime: Runtime) -> None:
        """A judging that did one chunk, then its process ended."""
        async with transaction(runtime.session_factory) as session:
            experiment = await experiment_service.get(session, uuid.UUID(experiment_id))
            judging = await sentiment_judge.start(
                session,
                runtime,
                experiment,
                ProviderSpec.parse("demo"),
                actor=Actor.cli(),
                now=utcnow(),
                judge_later=None,
            )
        await sentiment_judge.run(runtime.session_factory, runtime, judging.id, for_seconds=0)

    in_runtime(get_settings(), interrupted)
    code, out, err = invoke("experiments", "judge", experiment_id, "--provider", "demo")
    assert code == 2 and "already queued or running" in err
    code, out, err = invoke("experiments", "judge", experiment_id, "--resume", "--json")
    assert code == 0, err
    assert "resuming the judging of run 1 by demo:demo-synthetic-1: 5 of 12 answers done" in err
    judged = json.loads(out)
    assert (judged["status"], judged["read"], judged["answers"]) == ("completed", 12, 12)
    code, out, err = invoke("experiments", "judge", experiment_id, "--resume")
    assert code == 2 and "nothing to resume" in err
    code, out, err = invoke("experiments", "judge", experiment_id)
    assert code == 2 and "--provider" in err
