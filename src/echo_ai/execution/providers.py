"""Builds the provider a batch needs from settings, and reuses vendor clients across batches."""

from __future__ import annotations

from collections.abc import Sequence

from echo_ai.config import Settings
from echo_ai.providers.base import Provider
from echo_ai.providers.capabilities import ModelCapabilities, capabilities_for
from echo_ai.providers.demo import default_brand_probabilities
from echo_ai.providers.registry import (
    ProviderSpec,
    build_provider,
    credentials,
    redirect_resolver,
    require_settings,
)
from echo_ai.runs.claims import ClaimedBatch


def demo_probabilities(batch: ClaimedBatch) -> list[tuple[str, float]]:
    names = batch.brands.names
    chosen = batch.demo_probabilities or {}
    defaults = dict(default_brand_probabilities(names))
    return [(name, chosen.get(name, defaults[name])) for name in names]


def ensure_configured(settings: Settings, specs: Sequence[ProviderSpec]) -> None:
    """Fail before any work starts if a provider lacks its key or base URL."""
    for spec in specs:
        api_key, base_url = credentials(settings, spec.vendor)
        require_settings(spec, api_key=api_key, base_url=base_url)


class ProviderPool:
    """One client per vendor for the life of the process (connection reuse)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[str, Provider] = {}

    def register(self, provider: Provider) -> None:
        """Use this client for its vendor (a custom adapter, or a test double of a vendor)."""
        self._clients[provider.name] = provider

    def get(self, batch: ClaimedBatch) -> Provider:
        if batch.provider in self._clients:
            return self._clients[batch.provider]
        spec = ProviderSpec(batch.provider, batch.model)
        api_key, base_url = credentials(self._settings, batch.provider)
        provider = build_provider(
            spec,
            api_key=api_key,
            base_url=base_url,
            timeout_seconds=self._settings.runner.timeout_seconds,
            # Seeded per batch: the same iteration always gets the same synthetic answer.
            demo_brands=demo_probabilities(batch),
            demo_seed=batch.seed,
            redirects=redirect_resolver(self._settings),
        )
        if batch.provider != "demo":  # demo answers depend on the experiment's brands
            self._clients[batch.provider] = provider
        return provider

    def capabilities(self, batch: ClaimedBatch) -> ModelCapabilities:
        """What the batch's model takes, with the operator's output limits applied."""
        return capabilities_for(
            batch.provider, batch.model, output_tokens=self._settings.runner.output_tokens
        )

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
