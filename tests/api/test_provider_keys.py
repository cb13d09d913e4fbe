"""A workspace's own provider keys over the API: write-only, managers only, audited without
the key, encrypted at rest, used for that workspace's runs (and no other's) in preference
to the server's keys, and base URLs that would reach the server's network refused."""

from __future__ import annotations

import json
import uuid
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.api.routers.provider_keys import Vendor
from echo_ai.billing.plans import PlanName
from echo_ai.config import Settings
from echo_ai.credentials import store
from echo_ai.credentials.models import ProviderCredential
from echo_ai.credentials.vault import Vault
from echo_ai.db import transaction
from echo_ai.failures import SENTENCES, FailureCode
from echo_ai.privacy.audit import Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.security.keys import KeyRing
from echo_ai.testing.fake_llm import FakeLLMServer
from echo_ai.workspaces import service as workspaces
from tests.kit import app_runtime, create_team, register_and_login, wait_finished

pytestmark = pytest.mark.usefixtures("backend")

KEY_A = "sk-workspace-a-Secret-1111"
KEY_B = "sk-workspace-b-Secret-2222"
SERVER_KEY = "sk-server-Secret-0000"
BRANDS = {"target": {"name": "HubSpot"}, "competitors": [{"name": "Salesforce"}]}


def _experiment(provider: str, iterations: int = 3) -> dict[str, Any]:
    return {
        "prompt": "Best CRM?",
        "brands": BRANDS,
        "providers": [provider],
        "iterations": iterations,
    }


def _openai_at(settings: Settings, fake_llm: FakeLLMServer, *, server_key: str | None) -> None:
    settings.vendor_environment.clear()
    settings.vendor_environment["OPENAI_BASE_URL"] = f"{fake_llm.base_url}/v1"
    if server_key is not None:
        settings.vendor_environment["OPENAI_API_KEY"] = server_key


class Responses:
    """Every response body seen, to check that no key ever came back."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.bodies: list[str] = []

    async def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, url, **kwargs)
        self.bodies.append(response.text)
        return response

    def assert_never_shown(self, *keys: str) -> None:
        for body in self.bodies:
            for key in keys:
                assert key not in body
                assert key[:-4] not in body  # not even most of it


async def test_set_list_replace_delete_never_return_the_key_and_are_audited_without_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    team = await create_team(client, ["admin"])
    call = Responses(client)
    owner, admin = team.as_["owner"], team.as_["admin"]

    stored = await call("PUT", "/v1/provider-keys/openai", headers=owner, json={"api_key": KEY_A})
    assert stored.status_code == 200, stored.text
    shown = stored.json()
    assert shown["vendor"] == "openai" and shown["last4"] == KEY_A[-4:]
    assert shown["base_url"] is None and shown["set_by_email"] == "owner@example.com"
    assert set(shown) == {
        "vendor", "last4", "base_url", "created_at", "updated_at", "set_by_id", "set_by_email"
    }  # fmt: skip

    replaced = await call(
        "PUT", "/v1/provider-keys/openai", headers=admin, json={"api_key": f"  {KEY_B}  "}
    )
    assert replaced.status_code == 200
    assert replaced.json()["last4"] == KEY_B[-4:]
    assert replaced.json()["set_by_email"] == "admin@example.com"
    assert replaced.json()["created_at"] == shown["created_at"]

    listed = await call("GET", "/v1/provider-keys", headers=admin)
    assert [(k["vendor"], k["last4"]) for k in listed.json()] == [("openai", KEY_B[-4:])]

    async with transaction(app_runtime(app).session_factory) as session:
        (row,) = await session.scalars(select(ProviderCredential))
        assert KEY_A not in row.api_key_encrypted and KEY_B not in row.api_key_encrypted
        assert Vault(app.state.service.keys).decrypt(row.api_key_encrypted) == KEY_B

    deleted = await call("DELETE", "/v1/provider-keys/openai", headers=owner)
    assert deleted.status_code == 204
    again = await call("DELETE", "/v1/provider-keys/openai", headers=owner)
    assert again.status_code == 404
    assert (await call("GET", "/v1/provider-keys", headers=owner)).json() == []

    audit = await call("GET", "/v1/audit-events", headers=owner)
    actions = [event["action"] for event in audit.json()["items"]]
    assert actions[:3] == ["provider_key.deleted", "provider_key.set", "provider_key.set"]
    first_set = audit.json()["items"][2]
    assert first_set["details"] == {
        "vendor": "openai", "last4": KEY_A[-4:], "base_url": None, "replaced": False
    }  # fmt: skip
    async with transaction(app_runtime(app).session_factory) as session:
        details = [event.details for event in await session.scalars(select(AuditEvent))]
    assert KEY_A not in json.dumps(details) and KEY_B not in json.dumps(details)
    call.assert_never_shown(KEY_A, KEY_B)


async def test_only_owners_and_admins_manage_provider_keys(client: httpx.AsyncClient) -> None:
    team = await create_team(client, ["member", "viewer"])
    manager_key = await client.post(
        "/v1/api-keys", headers=team.as_["owner"], json={"name": "ci", "scopes": ["read", "write"]}
    )
    key_headers = {"Authorization": f"Bearer {manager_key.json()['key']}"}
    for headers in (team.as_["member"], team.as_["viewer"], key_headers):
        put = await client.put("/v1/provider-keys/openai", headers=headers, json={"api_key": KEY_A})
        assert put.status_code == 403, put.text
        assert put.json()["error"]["code"] == "forbidden"
        assert (await client.get("/v1/provider-keys", headers=headers)).status_code == 403
        assert (await client.delete("/v1/provider-keys/openai", headers=headers)).status_code == 403
    listed = await client.get("/v1/provider-keys", headers=team.as_["owner"])
    assert listed.json() == []  # nothing was stored by the refused calls


@pytest.mark.parametrize(
    ("vendor", "body", "code", "message"),
    [
        ("openai", {"api_key": "short"}, "validation_error", "at least 8"),
        ("openai", {"api_key": "sk-has space-1234"}, "validation_error", "printable ASCII"),
        ("openai", {"api_key": "sk-\x00-12345678"}, "validation_error", "control characters"),
        ("openai", {"api_key": "k" * 501}, "validation_error", "at most 500"),
        ("openai", {"api_key": KEY_A, "extra": 1}, "validation_error", "Extra inputs"),
        ("mistral", {"api_key": KEY_A}, "validation_error", "openai_compatible"),
        ("demo", {"api_key": KEY_A}, "validation_error", "openai_compatible"),
        (
            "openai",
            {"api_key": KEY_A, "base_url": "https://8.8.8.8/v1"},
            "validation_error",
            "takes no base_url",
        ),
        ("openai-compatible", {"api_key": KEY_A}, "validation_error", "needs a base_url"),
        (
            "openai_compatible",
            {"api_key": KEY_A, "base_url": "http://169.254.169.254/latest"},
            "unsafe_base_url",
            "169.254.169.254",
        ),
        (
            "openai_compatible",
            {"api_key": KEY_A, "base_url": "http://localhost:11434/v1"},
            "unsafe_base_url",
            "private, loopback",
        ),
        (
            "openai_compatible",
            {"api_key": KEY_A, "base_url": "http://[::ffff:10.0.0.1]/v1"},
            "unsafe_base_url",
            "ALLOW_PRIVATE_BASE_URLS",
        ),
        (
            "openai_compatible",
            {"api_key": KEY_A, "base_url": "gopher://8.8.8.8/v1"},
            "unsafe_base_url",
            "https:// or http://",
        ),
    ],
)
async def test_bad_keys_vendors_and_base_urls_are_refused_with_a_422_that_does_not_echo_the_key(
    client: httpx.AsyncClient, vendor: str, body: dict[str, Any], code: str, message: str
) -> None:
    owner = await register_and_login(client)
    refused = await client.put(f"/v1/provider-keys/{vendor}", headers=owner, json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == code
    assert message in refused.text
    assert body["api_key"] not in refused.text
    assert (await client.get("/v1/provider-keys", headers=owner)).json() == []


async def test_the_operator_can_allow_private_base_urls(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    settings.billing.allow_private_base_urls = True
    owner = await register_and_login(client)
    body = {"api_key": KEY_A, "base_url": " http://127.0.0.1:11434/v1 "}
    stored = await client.put("/v1/provider-keys/openai-compatible", headers=owner, json=body)
    assert stored.status_code == 200, stored.text
    assert stored.json()["vendor"] == "openai_compatible"
    assert stored.json()["base_url"] == "http://127.0.0.1:11434/v1"


async def test_a_workspace_key_is_used_for_its_runs_and_only_its_runs(
    settings: Settings, client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm, server_key=SERVER_KEY)
    ada = await register_and_login(client, "ada@example.com")
    bob = await register_and_login(client, "bob@example.com")
    put = await client.put("/v1/provider-keys/openai", headers=ada, json={"api_key": KEY_A})
    assert put.status_code == 200

    created = await client.post("/v1/experiments", headers=ada, json=_experiment("openai"))
    assert created.status_code == 202, created.text
    detail = await wait_finished(client, created.json()["id"], ada)
    assert detail["status"] == "completed", detail
    assert fake_llm.credentials == [KEY_A] * 3

    fake_llm.reset()
    created = await client.post("/v1/experiments", headers=bob, json=_experiment("openai"))
    detail = await wait_finished(client, created.json()["id"], bob)
    assert detail["status"] == "completed", detail
    assert fake_llm.credentials == [SERVER_KEY] * 3  # Ada's key is hers alone

    # Deleted: Ada's runs go back to the server's key.
    assert (await client.delete("/v1/provider-keys/openai", headers=ada)).status_code == 204
    fake_llm.reset()
    created = await client.post("/v1/experiments", headers=ada, json=_experiment("openai"))
    await wait_finished(client, created.json()["id"], ada)
    assert fake_llm.credentials == [SERVER_KEY] * 3


async def test_a_workspace_key_lets_a_run_use_a_vendor_the_server_has_no_key_for(
    settings: Settings, client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm, server_key=None)
    ada = await register_and_login(client, "ada@example.com")
    refused = await client.post("/v1/experiments", headers=ada, json=_experiment("openai"))
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "provider_not_configured"
    assert fake_llm.request_count == 0

    await client.put("/v1/provider-keys/openai", headers=ada, json={"api_key": KEY_A})
    created = await client.post("/v1/experiments", headers=ada, json=_experiment("openai"))
    assert created.status_code == 202, created.text
    detail = await wait_finished(client, created.json()["id"], ada)
    assert detail["status"] == "completed", detail
    assert fake_llm.credentials == [KEY_A] * 3


async def _team_plan(app: FastAPI, workspace_id: str) -> None:
    async with transaction(app_runtime(app).session_factory) as session:
        await workspaces.set_plan(
            session, uuid.UUID(workspace_id), PlanName.TEAM, actor=Actor.cli()
        )


async def test_an_openai_compatible_key_goes_to_its_base_url_checked_again_at_run_time(
    app: FastAPI, settings: Settings, client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    settings.vendor_environment.clear()
    settings.billing.allow_private_base_urls = True  # the fake server is on 127.0.0.1
    team = await create_team(client, [])
    await _team_plan(app, team.workspace_id)
    owner = team.as_["owner"]
    body = {"api_key": KEY_A, "base_url": f"{fake_llm.base_url}/v1"}
    assert (
        await client.put("/v1/provider-keys/openai_compatible", headers=owner, json=body)
    ).status_code == 200
    spec = "openai_compatible:llama3.1:8b"
    created = await client.post("/v1/experiments", headers=owner, json=_experiment(spec))
    assert created.status_code == 202, created.text
    detail = await wait_finished(client, created.json()["id"], owner)
    assert detail["status"] == "completed", detail
    assert fake_llm.credentials == [KEY_A] * 3

    # The operator withdraws the allowance: the stored URL is refused before any call.
    settings.billing.allow_private_base_urls = False
    fake_llm.reset()
    created = await client.post("/v1/experiments", headers=owner, json=_experiment(spec))
    detail = await wait_finished(client, created.json()["id"], owner)
    assert detail["status"] == "failed"
    (batch,) = detail["providers"]
    assert batch["error_code"] == "credential_unusable"
    assert batch["error"].startswith(SENTENCES[FailureCode.CREDENTIAL_UNUSABLE])
    assert "127.0.0.1" in batch["error"]
    assert fake_llm.request_count == 0


async def test_a_key_no_secret_decrypts_fails_the_batch_with_a_clear_code(
    app: FastAPI, settings: Settings, client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    _openai_at(settings, fake_llm, server_key=SERVER_KEY)
    ada = await register_and_login(client, "ada@example.com")
    await client.put("/v1/provider-keys/openai", headers=ada, json={"api_key": KEY_A})
    lost = KeyRing(current="l" * 8 + "Tr5!eW2@qA8#sD1$fG4%hJ7^kL0&zX3*")
    async with transaction(app_runtime(app).session_factory) as session:
        row = await session.scalar(select(ProviderCredential))
        assert row is not None
        row.api_key_encrypted = Vault(lost).encrypt(KEY_A)  # a secret the server lost

    created = await client.post("/v1/experiments", headers=ada, json=_experiment("openai"))
    detail = await wait_finished(client, created.json()["id"], ada)

    assert detail["status"] == "failed"
    (batch,) = detail["providers"]
    assert batch["error_code"] == "credential_unusable"
    assert "stored openai key cannot be decrypted" in batch["error"]
    assert "store it again" in batch["error"]
    assert fake_llm.request_count == 0  # not even with the server's key: the workspace chose


def test_the_routes_accept_every_storable_vendor() -> None:
    assert set(get_args(Vendor)) == {*store.STORABLE_VENDORS, "openai-compatible"}
