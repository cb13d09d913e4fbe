"""An experiment whose run has a failed batch is not "completed" (issue 9, finding 3).

As the probe saw it, over real HTTP on both backends: the status is ``partial`` (some
providers answered, some failed) or ``failed`` (none did), the failed providers are named
in the detail, the listing and the runs, and a failed batch says why with a code and a
sentence of ours, never an exception's text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from echo_ai.config import Settings
from echo_ai.failures import SENTENCES, FailureCode
from echo_ai.providers.base import Completion, CompletionRequest
from echo_ai.testing.fake_llm import FakeLLMServer
from tests.experiments.sync_http import experiment, finished, signed_up
from tests.kit import app_runtime

pytestmark = pytest.mark.usefixtures("backend")

OPENAI = "openai:gpt-4o-mini"
DEMO = "demo:demo-synthetic-1"
INTERNAL_TEXT = ("Traceback", "sqlalche.me", "RuntimeError", "Exception", "adapter bug")
"""What an exception's text looks like: none of it may reach an API response."""


def _openai_at(settings: Settings, fake_llm: FakeLLMServer) -> None:
    settings.vendor_environment["OPENAI_API_KEY"] = "sk-test"
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"


def _batch(detail: dict[str, Any], provider: str) -> dict[str, Any]:
    (batch,) = [b for b in detail["providers"] if f"{b['provider']}:{b['model']}" == provider]
    return batch


def test_a_run_with_a_failed_provider_is_partial_and_names_it_everywhere(
    http: httpx.Client, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    fake_llm.config.quota_exhausted = True
    headers = signed_up(http)
    created = http.post("/v1/experiments", json=experiment(["demo", OPENAI], 20), headers=headers)
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]

    detail = finished(http, experiment_id, headers)

    assert detail["status"] == "partial"
    assert detail["failed_providers"] == [OPENAI]
    failed, completed = _batch(detail, OPENAI), _batch(detail, DEMO)
    assert completed["status"] == "completed" and completed["error_code"] is None
    assert failed["status"] == "failed"
    assert failed["error_code"] == "quota_exhausted"
    # Our sentence, then the vendor's own words (they say what to fix).
    assert failed["error"].startswith(SENTENCES[FailureCode.QUOTA_EXHAUSTED] + " The provider")
    assert "exceeded your current quota" in failed["error"]

    listing = http.get("/v1/experiments", headers=headers).json()["items"]
    assert [(e["id"], e["status"], e["failed_providers"]) for e in listing] == [
        (experiment_id, "partial", [OPENAI])
    ]
    only_partial = http.get("/v1/experiments?status=partial", headers=headers).json()["items"]
    assert [e["id"] for e in only_partial] == [experiment_id]
    assert http.get("/v1/experiments?status=completed", headers=headers).json()["items"] == []
    runs = http.get(f"/v1/experiments/{experiment_id}/runs", headers=headers).json()["items"]
    assert {(f"{b['provider']}:{b['model']}", b["status"], b["error_code"]) for b in runs} == {
        (OPENAI, "failed", "quota_exhausted"),
        (DEMO, "completed", None),
    }


def test_a_run_where_every_provider_failed_is_failed(
    http: httpx.Client, settings: Settings, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm)
    fake_llm.config.quota_exhausted = True
    headers = signed_up(http)
    created = http.post("/v1/experiments", json=experiment([OPENAI], 20), headers=headers)
    assert created.status_code == 202, created.text

    detail = finished(http, created.json()["id"], headers)

    assert detail["status"] == "failed"
    assert detail["failed_providers"] == [OPENAI]


class _BrokenAdapter:
    """A vendor adapter with a bug: it raises something that is not a provider error."""

    name = "openai"

    async def complete(self, request: CompletionRequest) -> Completion:
        await asyncio.sleep(0)
        raise RuntimeError("adapter bug")

    async def aclose(self) -> None:
        pass


def test_an_internal_error_shows_as_a_code_and_a_sentence_and_is_logged_with_its_ids(
    app: FastAPI,
    http: httpx.Client,
    settings: Settings,
    fake_llm: FakeLLMServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _openai_at(settings, fake_llm)
    app_runtime(app).providers.register(_BrokenAdapter())
    headers = signed_up(http)
    created = http.post("/v1/experiments", json=experiment(["demo", OPENAI], 20), headers=headers)
    assert created.status_code == 202, created.text
    experiment_id = created.json()["id"]

    detail = finished(http, experiment_id, headers)

    assert detail["status"] == "partial" and detail["failed_providers"] == [OPENAI]
    failed = _batch(detail, OPENAI)
    assert failed["error_code"] == "internal_error"
    assert failed["error"] == SENTENCES[FailureCode.INTERNAL_ERROR]
    bodies = [
        http.get(f"/v1/experiments/{experiment_id}", headers=headers).text,
        http.get("/v1/experiments", headers=headers).text,
        http.get(f"/v1/experiments/{experiment_id}/runs", headers=headers).text,
    ]
    assert not [text for text in INTERNAL_TEXT for body in bodies if text in body]
    # The exception itself is in the log (JSON lines on stderr), on a line that names the
    # experiment, the batch and the provider.
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    (logged,) = [line for line in lines if "internal_error" in line["event"]]
    assert logged["experiment_id"] == experiment_id
    assert logged["batch_run_id"] == failed["id"]
    assert logged["provider"] == OPENAI
    assert "RuntimeError" in json.dumps(logged) and "adapter bug" in json.dumps(logged)
