"""Builds the provider a batch needs, from a workspace's own key or the server's settings,
and reuses vendor clients across batches."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.config import Settings
from echo_ai.credentials import store
from echo_ai.credentials.store import UnreadableKey, WorkspaceKey
from echo_ai.credentials.vault import Unreadable, Vault
from echo_ai.providers.base import Provider, ProviderNotConfigured
from echo_ai.providers.capabilities import ModelCapabilities, capabilities_for
from echo_ai.providers.demo import default_brand_probabilities
from echo_ai.providers.registry import (
    ProviderSpec,
    VendorStatus,
    build_provider,
    credentials,
    redirect_resolver,
    require_settings,
    vendor_statuses,
)
from echo_ai.runs.claims import ClaimedBatch
from echo_ai.security.keys import KeyRing, load_key_ring
from echo_ai.security.outbound import UnsafeURL, check_base_url

log = logging.getLogger(__name__)

StoredKey = WorkspaceKey | UnreadableKey
"""What a batch's workspace has stored for its vendor (see :meth:`ProviderPool.stored_key`)."""


class CredentialUnusable(ProviderNotConfigured):
    """The workspace's own key cannot be used: no secret key decrypts it, or its base URL
    now reaches a network the server does not call. The batch stops (``credential_unusable``)."""

    code = "credential_unusable"


def demo_probabilities(batch: ClaimedBatch) -> list[tuple[str, float]]:
    names = batch.brands.names
    chosen = batch.demo_probabilities or {}
    defaults = dict(default_brand_probabilities(names))
    return [(name, chosen.get(name, defaults[name])) for name in names]


def ensure_configured(
    settings: Settings, specs: Sequence[ProviderSpec], *, stored: Collection[str] = ()
) -> None:
    """Fail before any work starts if a provider lacks its key or base URL, on the server
    and among the vendors the workspace has ``stored`` a key for."""
    for spec in specs:
        if spec.vendor in stored:
            continue
        api_key, base_url = credentials(settings, spec.vendor)
        require_settings(spec, api_key=api_key, base_url=base_url)


async def ensure_ready(
    session: AsyncSession,
    settings: Settings,
    specs: Sequence[ProviderSpec],
    *,
    workspace_id: uuid.UUID | None,
) -> None:
    """:func:`ensure_configured`, counting the keys the workspace has stored: a workspace
    key lets a run use a vendor the server has no key for."""
    stored = frozenset() if workspace_id is None else await store.vendors(session, workspace_id)
    ensure_configured(settings, specs, stored=stored)


async def workspace_vendor_statuses(
    session: AsyncSession, settings: Settings, workspace_id: uuid.UUID
) -> list[VendorStatus]:
    """:func:`~echo_ai.providers.registry.vendor_statuses` for a workspace: a vendor it
    stored its own key for is ready whatever the server has (what the experiment form shows)."""
    stored = await store.vendors(session, workspace_id)
    return [
        dataclasses.replace(status, missing=None) if status.vendor in stored else status
        for status in vendor_statuses(settings)
    ]


class ProviderPool:
    """Vendor clients for the life of the process (connection reuse): one per vendor with
    the server's keys, and one per (vendor, workspace, key) with a workspace's own key,
    never shared between workspaces."""

    def __init__(self, settings: Settings, keys: KeyRing | None = None) -> None:
        self._settings = settings
        self._keys = keys
        """None: loaded from the settings when a workspace's key is first read."""
        self._vault: Vault | None = None
        self._clients: dict[str, Provider] = {}
        self._workspace_clients: dict[tuple[str, uuid.UUID, str], Provider] = {}

    def register(self, provider: Provider) -> None:
        """Use this client for its vendor (a custom adapter, or a test double of a vendor)."""
        self._clients[provider.name] = provider

    def vault(self) -> Vault:
        """The vault of the server's secret keys (built on first use); :class:`Unreadable`
        when this process has no usable secret key (then no stored key can be read)."""
        if self._vault is None:
            try:
                keys = self._keys if self._keys is not None else load_key_ring(self._settings)
            except (ValueError, PermissionError) as error:
                log.error("cannot load the secret key to read workspaces' keys: %s", error)
                raise Unreadable("no secret key to decrypt the workspace's key") from error
            self._vault = Vault(keys)
        return self._vault

    async def stored_key(self, session: AsyncSession, batch: ClaimedBatch) -> StoredKey | None:
        """The key the batch's workspace stored for its vendor, if any (read in the claim's
        transaction). A process without a usable secret key reads it as unreadable."""
        if batch.workspace_id is None:
            return None
        return await store.for_batch(session, batch.workspace_id, batch.provider, self.vault)

    async def get(self, batch: ClaimedBatch, stored: StoredKey | None = None) -> Provider:
        """The client for the batch: with the workspace's ``stored`` key when it has one
        (its base URL checked again: what a name resolves to can change), else with the
        server's. :class:`ProviderNotConfigured` when neither has what the vendor needs."""
        if stored is not None:
            return await self._workspace_client(batch, stored)
        if batch.provider in self._clients:
            return self._clients[batch.provider]
        api_key, base_url = credentials(self._settings, batch.provider)
        provider = self._build(batch, api_key=api_key, base_url=base_url)
        if batch.provider != "demo":  # demo answers depend on the experiment's brands
            self._clients[batch.provider] = provider
        return provider

    async def client_for(
        self, session: AsyncSession, workspace_id: uuid.UUID | None, spec: ProviderSpec
    ) -> Provider:
        """The client for a call outside a batch (:mod:`echo_ai.billing.auxiliary`), by the
        rule batches follow: the workspace's stored key for the vendor when it has one, the
        server's otherwise. :class:`ProviderNotConfigured` when neither has what it needs."""
        stored = (
            None
            if workspace_id is None
            else await store.for_batch(session, workspace_id, spec.vendor, self.vault)
        )

        def build(api_key: str | None, base_url: str | None) -> Provider:
            return build_provider(
                spec,
                api_key=api_key,
                base_url=base_url,
                timeout_seconds=self._settings.runner.timeout_seconds,
                redirects=redirect_resolver(self._settings),
            )

        if stored is not None:
            return await self._stored_client(spec.vendor, stored, build)
        if spec.vendor in self._clients and spec.vendor != "demo":
            return self._clients[spec.vendor]
        provider = build(*credentials(self._settings, spec.vendor))
        if spec.vendor != "demo":
            self._clients[spec.vendor] = provider
        return provider

    async def _workspace_client(self, batch: ClaimedBatch, stored: StoredKey) -> Provider:
        def build(api_key: str | None, base_url: str | None) -> Provider:
            return self._build(batch, api_key=api_key, base_url=base_url)

        return await self._stored_client(batch.provider, stored, build)

    async def _stored_client(
        self,
        vendor: str,
        stored: StoredKey,
        build: Callable[[str | None, str | None], Provider],
    ) -> Provider:
        if isinstance(stored, UnreadableKey):
            raise CredentialUnusable(
                f"The workspace's stored {stored.vendor} key cannot be decrypted with this "
                "server's secret keys (the secret key changed and the old one is not in "
                "ECHO_AI_PREVIOUS_SECRET_KEYS)."
            )
        if stored.vendor in store.BASE_URL_VENDORS:
            assert stored.base_url is not None  # required when it was stored
            try:
                await check_base_url(
                    stored.base_url,
                    allow_private=self._settings.billing.allow_private_base_urls,
                )
            except UnsafeURL as error:
                raise CredentialUnusable(
                    f"The stored base URL is refused: {error.message}."
                ) from None
            base_url: str | None = stored.base_url
        else:
            base_url = credentials(self._settings, vendor)[1]
        cache_key = (stored.vendor, stored.workspace_id, stored.fingerprint)
        found = self._workspace_clients.get(cache_key)
        if found is None:
            found = build(stored.api_key, base_url)
            self._workspace_clients[cache_key] = found
        return found

    def _build(self, batch: ClaimedBatch, *, api_key: str | None, base_url: str | None) -> Provider:
        return build_provider(
            ProviderSpec(batch.provider, batch.model),
            api_key=api_key,
            base_url=base_url,
            timeout_seconds=self._settings.runner.timeout_seconds,
            # Seeded per batch: the same iteration always gets the same synthetic answer.
            demo_brands=demo_probabilities(batch),
            demo_seed=batch.seed,
            redirects=redirect_resolver(self._settings),
        )

    def capabilities(self, batch: ClaimedBatch) -> ModelCapabilities:
        """What the batch's model takes, with the operator's output limits applied."""
        return capabilities_for(
            batch.provider, batch.model, output_tokens=self._settings.runner.output_tokens
        )

    async def aclose(self) -> None:
        for client in [*self._clients.values(), *self._workspace_clients.values()]:
            await client.aclose()
        self._clients.clear()
        self._workspace_clients.clear()
