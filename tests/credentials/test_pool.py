"""The provider pool builds a workspace's own client from its stored key: one per
(vendor, workspace, key), never another workspace's, and the server's otherwise."""

from __future__ import annotations

import uuid

import pytest

from echo_ai.analysis.brands import BrandSet
from echo_ai.config import Settings
from echo_ai.credentials.store import UnreadableKey, WorkspaceKey
from echo_ai.execution.providers import CredentialUnusable, ProviderPool
from echo_ai.providers.base import ProviderNotConfigured
from echo_ai.runs.claims import ClaimedBatch
from echo_ai.security.keys import KeyRing

KEYS = KeyRing(current="k" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*")


def _batch(
    workspace_id: uuid.UUID, provider: str = "openai", model: str = "gpt-4o-mini"
) -> ClaimedBatch:
    return ClaimedBatch(
        id=uuid.uuid4(),
        experiment_id=uuid.uuid4(),
        workspace_id=workspace_id,
        provider=provider,
        model=model,
        temperature=1.0,
        seed=1,
        iterations_requested=1,
        chunk_size=1,
        prompt="Best CRM?",
        persona=None,
        brands=BrandSet.model_validate({"target": {"name": "HubSpot"}}),
        grounding=False,
        require_grounding=False,
        user_location=None,
        demo_probabilities=None,
    )


async def test_clients_are_kept_per_workspace_and_key_and_the_server_key_is_the_fallback() -> None:
    settings = Settings(vendor_environment={"OPENAI_API_KEY": "sk-server-0000"})
    pool = ProviderPool(settings, KEYS)
    ada, bob = uuid.uuid4(), uuid.uuid4()
    try:
        ada_client = await pool.get(_batch(ada), WorkspaceKey(ada, "openai", "sk-ada-1111", None))
        again = await pool.get(_batch(ada), WorkspaceKey(ada, "openai", "sk-ada-1111", None))
        same_key_bob = await pool.get(_batch(bob), WorkspaceKey(bob, "openai", "sk-ada-1111", None))
        replaced = await pool.get(_batch(ada), WorkspaceKey(ada, "openai", "sk-ada-2222", None))
        server = await pool.get(_batch(bob))
        assert again is ada_client
        assert same_key_bob is not ada_client  # never shared across workspaces
        assert replaced is not ada_client
        assert server not in (ada_client, same_key_bob, replaced)
        assert await pool.get(_batch(ada)) is server  # no stored key: the server's client
    finally:
        await pool.aclose()


async def test_an_unreadable_key_or_a_missing_setting_is_a_clear_provider_error() -> None:
    pool = ProviderPool(Settings(vendor_environment={}), KEYS)
    workspace = uuid.uuid4()
    with pytest.raises(CredentialUnusable, match="stored gemini key cannot be decrypted") as error:
        await pool.get(_batch(workspace, "gemini"), UnreadableKey(workspace, "gemini"))
    assert error.value.code == "credential_unusable"
    with pytest.raises(ProviderNotConfigured, match="OPENAI_API_KEY"):
        await pool.get(_batch(workspace))  # neither the workspace nor the server has a key
    await pool.aclose()


async def test_a_stored_base_url_is_checked_again_when_the_client_is_built() -> None:
    pool = ProviderPool(Settings(vendor_environment={}), KEYS)
    workspace = uuid.uuid4()
    stored = WorkspaceKey(workspace, "openai_compatible", "sk-x-1234", "http://localhost:8000/v1")
    batch = _batch(workspace, "openai_compatible", "llama3.1:8b")
    with pytest.raises(CredentialUnusable, match="is at"):
        await pool.get(batch, stored)
    allowed = Settings(vendor_environment={})
    allowed.billing.allow_private_base_urls = True
    open_pool = ProviderPool(allowed, KEYS)
    try:
        assert (await open_pool.get(batch, stored)).name == "openai_compatible"
    finally:
        await open_pool.aclose()
        await pool.aclose()
