"""The fake Stripe API server (one per test process, emptied for each test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from echo_ai.testing.fake_stripe import FakeStripeServer


@pytest.fixture(scope="session")
def _fake_stripe_session() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as server:
        yield server


@pytest.fixture
def fake_stripe(_fake_stripe_session: FakeStripeServer) -> FakeStripeServer:
    """The running fake Stripe API, with no objects, requests or failure."""
    _fake_stripe_session.reset()
    return _fake_stripe_session
