"""Schemathesis over the OpenAPI schema, against the running app (issue 3 §8).

Every documented operation gets generated requests (valid and invalid ones) and each
response must: not be a 5xx, have a documented status code, a documented content type,
documented headers, and a body that matches the documented schema. That includes the
4xx error bodies (``{"error": {"code", "message", "details"}}``) and the 429s that the
rate limits give under fuzzing: a 429 is not a failure, an undocumented one would be.

One app for the whole module, served over a real socket (:mod:`tests.live`), and a user
registered and logged in once. (Not schemathesis' ASGI transport: its pytest plugin ends
the app's lifespan after every operation's test, so the next one would start the app
again, stopping and resuming the experiments the fuzzer queued each time.) Two passes:
with that user's Bearer token on every request (so the authenticated code paths are
reached), and with whatever ``Authorization`` the generator makes up (mostly 401s, which
must be documented too).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from echo_ai.app import create_app
from echo_ai.config import AuthSettings, Settings
from tests import schema_cases
from tests.kit import PASSWORD, wait_until_sync
from tests.live import serving

EMAIL = "schema-fuzz@example.com"
MAX_EXAMPLES = 12
"""Per operation and pass (the bad values of every field are test_fuzz.py's, one by one):
the module stays well under a minute on two cores."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    print_blob=True,
)


SEEDED_EXPERIMENT: dict[str, Any] = {
    "prompt": "What is the best CRM for a 10-person startup?",
    "brands": {
        "target": {"name": "HubSpot", "domains": ["hubspot.com"]},
        "competitors": [{"name": "Salesforce"}, {"name": "Pipedrive"}],
    },
    "providers": ["demo"],
    "iterations": 12,
}


@dataclass(frozen=True)
class RunningApi:
    url: str
    session: requests.Session
    token: str
    experiment_id: str
    """A finished experiment of the user's, so reads reach real reports and iterations."""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _seed_experiment(session: requests.Session, base: str, auth: dict[str, str]) -> str:
    created = session.post(f"{base}/v1/experiments", json=SEEDED_EXPERIMENT, headers=auth)
    assert created.status_code == 202, created.text
    url = f"{base}/v1/experiments/{created.json()['id']}"
    status = ""

    def finished() -> bool:
        nonlocal status
        status = session.get(url, headers=auth).json()["status"]
        return status in ("completed", "failed")

    wait_until_sync(finished, message="the seeded experiment did not finish")
    assert status == "completed"
    return str(created.json()["id"])


def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No secret key from the environment (one is generated), no Redis, no vendor keys:
    experiments can only use the offline demo provider."""
    for name in ("ECHO_AI_SECRET_KEY", "ECHO_AI_SECRET_KEY_FILE", "REDIS_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    data_dir: Path = tmp_path_factory.mktemp("schema") / "data"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clean_environment(monkeypatch)
        # The fuzzer sends made-up refresh and invitation tokens with the valid token too:
        # past the guess limit every later case would only see 429s.
        unlimited = AuthSettings(guesses_per_client=1_000_000)
        app = create_app(Settings(data_dir=data_dir, auth=unlimited))
        with serving(app) as server, requests.Session() as session:
            base = server.url
            registered = session.post(
                f"{base}/auth/register",
                json={"email": EMAIL, "password": PASSWORD, "accept_terms": True},
            )
            assert registered.status_code == 201, registered.text
            login = session.post(f"{base}/auth/login", json={"email": EMAIL, "password": PASSWORD})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            experiment_id = _seed_experiment(session, base, auth)
            yield RunningApi(url=base, session=session, token=token, experiment_id=experiment_id)


def _load_schema() -> schemathesis.BaseSchema:
    """The schema the app serves at ``/openapi.json``, built without starting an app.

    Loaded at import (``parametrize`` needs the operations at collection time) from an app
    that is never started; requests go to the module's running app, passed to each call.
    (``schemathesis.pytest.from_fixture`` would load it lazily, but fails on pytest 9.)
    """
    unused = Path(tempfile.gettempdir()) / "echo-ai-schema-unused"
    return schemathesis.openapi.from_dict(create_app(Settings(data_dir=unused)).openapi())


schema_cases.install()  # before parametrize() builds the tests: see tests/schema_cases.py
schema = _load_schema()


def _even_uuid(value: object) -> bool:
    """A UUID whose last bit is 0: a deterministic coin flip over generated ids."""
    try:
        return isinstance(value, str) and uuid.UUID(value).int % 2 == 0
    except ValueError:
        return False


@schema.parametrize()
@FUZZ_SETTINGS
def test_authenticated(case: schemathesis.Case, running_api: RunningApi) -> None:
    # The user's own (personal) workspace: a made-up X-Workspace-ID would stop nearly
    # every case at the 404 for a workspace it is not a member of, before the route runs.
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() not in {"authorization", "x-workspace-id"}
    }
    case.headers = {**headers, **running_api.auth}
    # Reads of a generated (well-formed) id are nearly always 404s: read the seeded
    # experiment instead, half the time. (Not for DELETE, which would remove it.)
    experiment_id = (case.path_parameters or {}).get("experiment_id")
    if case.method == "GET" and _even_uuid(experiment_id):
        case.path_parameters = {
            **(case.path_parameters or {}),
            "experiment_id": running_api.experiment_id,
        }
    response = case.call(base_url=running_api.url, session=running_api.session)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@FUZZ_SETTINGS
def test_generated_credentials(case: schemathesis.Case, running_api: RunningApi) -> None:
    response = case.call(base_url=running_api.url, session=running_api.session)
    case.validate_response(response, checks=CHECKS)
