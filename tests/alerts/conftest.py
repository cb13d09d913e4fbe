from __future__ import annotations

from collections.abc import Iterator

import pytest

from echo_ai.config import Settings
from tests.alerts.receiver import Receiver, webhook_receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhooks may reach the local receiver; retries wait ten minutes (the tests move
    their clock instead: no real tick reaches them)."""
    settings.alerts.allow_private_webhook_urls = True
    settings.alerts.webhook_first_retry_seconds = 600
    return settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running
