"""Provider keys are encrypted with keys derived from the secret key ring, and survive a
secret-key rotation: the old secret as a previous key still decrypts, and once re-encrypted
(``rotate``) the new secret alone does."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from echo_ai.config import Settings
from echo_ai.credentials import store
from echo_ai.credentials.models import ProviderCredential
from echo_ai.credentials.vault import Unreadable, Vault
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces.models import Workspace

OLD = "o" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*"
NEW = "n" * 8 + "Hb6#qW1!zX4$cV7%bN0^mK3&jL9*gF2@"
OTHER = "x" * 8 + "Tr5!eW2@qA8#sD1$fG4%hJ7^kL0&zX3*"
KEY = "sk-proj-Secret-Value-9876"


def test_each_secret_gives_its_own_fernet_key_current_first() -> None:
    keys = KeyRing(current=NEW, previous=(OLD,)).credential_keys()
    assert len(keys) == 2 and keys[0] != keys[1]
    assert keys[0] == KeyRing(current=NEW).credential_keys()[0]
    for key in keys:
        Fernet(key)  # a valid Fernet key: url-safe base64 of 32 bytes
    # Derived for this purpose only: not the JWT or pepper material.
    assert keys[0] not in KeyRing(current=NEW).peppers()


def test_a_key_round_trips_and_its_token_does_not_contain_it() -> None:
    vault = Vault(KeyRing(current=NEW))
    token = vault.encrypt(KEY)
    assert KEY not in token and KEY[-8:] not in token
    assert vault.decrypt(token) == KEY
    assert vault.encrypt(KEY) != token  # a fresh IV each time


def test_a_rotation_keeps_keys_readable_and_rotate_moves_them_to_the_new_secret() -> None:
    token = Vault(KeyRing(current=OLD)).encrypt(KEY)
    during = Vault(KeyRing(current=NEW, previous=(OLD,)))
    assert during.decrypt(token) == KEY  # the old secret, now a previous one, still reads it
    with pytest.raises(Unreadable):
        Vault(KeyRing(current=NEW)).decrypt(token)  # not yet rotated: the new one alone cannot

    rotated = during.rotate(token)

    assert Vault(KeyRing(current=NEW)).decrypt(rotated) == KEY
    with pytest.raises(Unreadable):
        Vault(KeyRing(current=OLD)).decrypt(rotated)


def test_a_token_no_secret_decrypts_is_unreadable_not_a_crash() -> None:
    vault = Vault(KeyRing(current=NEW))
    with pytest.raises(Unreadable):
        vault.decrypt(Vault(KeyRing(current=OTHER)).encrypt(KEY))
    with pytest.raises(Unreadable):
        vault.decrypt("not a token")
    with pytest.raises(Unreadable):
        vault.rotate(Vault(KeyRing(current=OTHER)).encrypt(KEY))


async def _workspace(runtime: Runtime, name: str) -> uuid.UUID:
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name=name, personal=False)
        session.add(workspace)
        await session.flush()
        return workspace.id


async def _store(runtime: Runtime, workspace_id: uuid.UUID, vendor: str, vault: Vault) -> None:
    async with transaction(runtime.session_factory) as session:
        session.add(
            ProviderCredential(
                workspace_id=workspace_id,
                vendor=vendor,
                api_key_encrypted=vault.encrypt(f"{KEY}-{vendor}"),
                last4=KEY[-4:],
            )
        )


async def test_rotating_the_stored_rows_through_a_secret_key_rotation(
    backend: str, settings: Settings, runtime: Runtime
) -> None:
    first, second = await _workspace(runtime, "one"), await _workspace(runtime, "two")
    await _store(runtime, first, "openai", Vault(KeyRing(current=OLD)))
    await _store(runtime, second, "anthropic", Vault(KeyRing(current=OLD)))
    await _store(runtime, second, "gemini", Vault(KeyRing(current=OTHER)))  # lost secret
    async with transaction(runtime.session_factory) as session:
        before = {
            row.vendor: (row.api_key_encrypted, row.updated_at)
            for row in await session.scalars(select(ProviderCredential))
        }
    assert all(KEY not in token for token, _ in before.values())  # encrypted at rest

    during = Vault(KeyRing(current=NEW, previous=(OLD,)))
    async with transaction(runtime.session_factory) as session:
        found = await store.for_batch(session, first, "openai", lambda: during)
        assert isinstance(found, store.WorkspaceKey) and found.api_key == f"{KEY}-openai"
        rotation = await store.rotate(session, during, batch_size=2)  # pages of two rows

    assert rotation.rotated == 2
    assert rotation.unreadable == [(second, "gemini")]
    only_new = Vault(KeyRing(current=NEW))
    async with transaction(runtime.session_factory) as session:
        for workspace_id, vendor in ((first, "openai"), (second, "anthropic")):
            found = await store.for_batch(session, workspace_id, vendor, lambda: only_new)
            assert isinstance(found, store.WorkspaceKey) and found.api_key == f"{KEY}-{vendor}"
        lost = await store.for_batch(session, second, "gemini", lambda: only_new)
        assert lost == store.UnreadableKey(second, "gemini")
        after = {
            row.vendor: (row.api_key_encrypted, row.updated_at)
            for row in await session.scalars(select(ProviderCredential))
        }
    assert after["openai"][0] != before["openai"][0]
    assert after["gemini"] == before["gemini"]  # left as it was
    # updated_at says when a user set the key, not when the operator re-encrypted it.
    assert after["openai"][1] == before["openai"][1]
