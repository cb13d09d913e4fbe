"""Two managers storing a workspace's key for one vendor at the same moment: one row, the
later key in it, both audited (PostgreSQL: concurrent writers)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from echo_ai.credentials.models import ProviderCredential
from echo_ai.credentials.schemas import ProviderKeyIn
from echo_ai.credentials.vault import Vault
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy.audit import Action, Actor
from echo_ai.privacy.models import AuditEvent
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces import provider_keys
from echo_ai.workspaces.models import Workspace
from tests.servers import postgres_unreachable

pytestmark = pytest.mark.skipif(postgres_unreachable() is not None, reason="needs PostgreSQL")

VAULT = Vault(KeyRing(current="k" * 8 + "Zq3!xV9@pL2#mN7$wR5%tY8^uI1&oP4*"))


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_two_keys_stored_at_once_leave_one_row(backend: str, runtime: Runtime) -> None:
    async with transaction(runtime.session_factory) as session:
        workspace = Workspace(name="race", personal=False)
        session.add(workspace)
        await session.flush()
        workspace_id = workspace.id
    both_read = asyncio.Barrier(2)

    async def store(key: str) -> None:
        async with transaction(runtime.session_factory) as session:
            # Both look before either writes: both find no row and insert.
            await session.scalar(select(ProviderCredential.id))
            await both_read.wait()
            await provider_keys.set_key(
                session,
                workspace_id,
                "openai",
                ProviderKeyIn(api_key=key),
                vault=VAULT,
                allow_private_base_urls=False,
                set_by=None,
                actor=Actor.cli(),
            )

    await asyncio.gather(store("sk-first-key-1111"), store("sk-second-key-2222"))

    async with transaction(runtime.session_factory) as session:
        rows = list(await session.scalars(select(ProviderCredential)))
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == str(Action.PROVIDER_KEY_SET))
            )
        )
    assert len(rows) == 1
    assert VAULT.decrypt(rows[0].api_key_encrypted)[-4:] == rows[0].last4
    assert sorted(event.details["replaced"] for event in events) == [False, True]
