"""Reading and writing a workspace's stored provider keys (the rows, encrypted).

The use cases (:mod:`echo_ai.workspaces.provider_keys`) set, list and delete them; the
runner reads the key of a batch's vendor in its claim transaction (:func:`for_batch`); the
operator re-encrypts them all under the current secret key (:func:`rotate`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from echo_ai.credentials.models import ProviderCredential
from echo_ai.credentials.vault import Unreadable, Vault

STORABLE_VENDORS: tuple[str, ...] = (
    "openai",
    "anthropic",
    "perplexity",
    "gemini",
    "openai_compatible",
)
"""The vendors a workspace can bring a key for (the names of provider specs)."""

BASE_URL_VENDORS: frozenset[str] = frozenset({"openai_compatible"})
"""Vendors whose stored key comes with the workspace's own base URL (required). The others
use the server's base URL for the vendor (``OPENAI_BASE_URL``..., normally unset): a
workspace chooses the key, not where a known vendor's requests go."""


@dataclass(frozen=True)
class WorkspaceKey:
    """A workspace's key for one vendor, decrypted for a run."""

    workspace_id: uuid.UUID
    vendor: str
    api_key: str = field(repr=False)
    base_url: str | None

    @property
    def fingerprint(self) -> str:
        """Tells keys (and base URLs) apart without holding the key: the pool's cache key."""
        text = f"{self.api_key}\0{self.base_url or ''}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class UnreadableKey:
    """A stored key that none of the server's secret keys decrypts."""

    workspace_id: uuid.UUID
    vendor: str


async def get(
    session: AsyncSession, workspace_id: uuid.UUID, vendor: str
) -> ProviderCredential | None:
    return await session.scalar(
        select(ProviderCredential).where(
            ProviderCredential.workspace_id == workspace_id, ProviderCredential.vendor == vendor
        )
    )


async def list_for(session: AsyncSession, workspace_id: uuid.UUID) -> list[ProviderCredential]:
    return list(
        await session.scalars(
            select(ProviderCredential)
            .where(ProviderCredential.workspace_id == workspace_id)
            .order_by(ProviderCredential.vendor)
        )
    )


async def vendors(session: AsyncSession, workspace_id: uuid.UUID) -> frozenset[str]:
    """The vendors the workspace has stored a key for."""
    found = await session.scalars(
        select(ProviderCredential.vendor).where(ProviderCredential.workspace_id == workspace_id)
    )
    return frozenset(found)


async def for_batch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    vendor: str,
    vault: Callable[[], Vault],
) -> WorkspaceKey | UnreadableKey | None:
    """The workspace's key for ``vendor``, decrypted; :class:`UnreadableKey` if no secret
    key decrypts it; None if it has none. ``vault`` is asked for only when a key is
    stored (a server without workspace keys needs no vault)."""
    if vendor not in STORABLE_VENDORS:
        return None
    row = await get(session, workspace_id, vendor)
    if row is None:
        return None
    try:
        api_key = vault().decrypt(row.api_key_encrypted)
    except Unreadable:
        return UnreadableKey(workspace_id, vendor)
    return WorkspaceKey(workspace_id, vendor, api_key, row.base_url)


@dataclass(frozen=True)
class Rotation:
    rotated: int
    """Keys now encrypted under the current secret key."""
    unreadable: list[tuple[uuid.UUID, str]]
    """(workspace, vendor) of keys no configured secret key decrypts: left as they are;
    their workspaces must store them again."""


async def rotate(session: AsyncSession, vault: Vault, *, batch_size: int = 500) -> Rotation:
    """Encrypt every stored key again under the current secret key, so that the previous
    secret keys can be dropped. Keys no secret key decrypts are reported, not changed."""
    rotated = 0
    unreadable: list[tuple[uuid.UUID, str]] = []
    last: uuid.UUID | None = None
    while True:
        query = select(ProviderCredential).order_by(ProviderCredential.id).limit(batch_size)
        if last is not None:
            query = query.where(ProviderCredential.id > last)
        rows = list(await session.scalars(query))
        if not rows:
            break
        for row in rows:
            try:
                # Only the token changes: updated_at says when a user last set the key.
                row.api_key_encrypted = vault.rotate(row.api_key_encrypted)
                flag_modified(row, "updated_at")
            except Unreadable:
                unreadable.append((row.workspace_id, row.vendor))
                continue
            rotated += 1
        await session.flush()
        last = rows[-1].id
    return Rotation(rotated, unreadable)
