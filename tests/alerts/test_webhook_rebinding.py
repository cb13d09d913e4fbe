"""A webhook goes to the address its URL's check resolved, never to a second lookup of the
name: a name that answers a public address to the check and a private one a moment later
(DNS rebinding) does not reach the private one. The name stays in the ``Host`` header and
TLS's server name."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from echo_ai.alerts import delivery, evaluation
from echo_ai.alerts import service as alerts
from echo_ai.alerts.models import AlertDelivery, DeliveryStatus
from echo_ai.alerts.schemas import AlertRuleIn
from echo_ai.credentials.vault import Vault
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.runs import service as run_service
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces.local import local_workspace
from tests.alerts.receiver import Receiver
from tests.factories import experiment_input
from tests.kit import ScriptedResolver

pytestmark = pytest.mark.usefixtures("backend")

NAME = "hooks.rebind.example"
VAULT = Vault(KeyRing("r" * 64))


async def _fired(runtime: Runtime, webhook_url: str) -> uuid.UUID:
    """An experiment whose second run changed, a rule with this webhook, the run
    evaluated: the id of its (pending) webhook delivery."""
    async with transaction(runtime.session_factory) as session:
        workspace = await local_workspace(session)
        experiment = await experiment_service.create(
            session,
            experiment_input(iterations=60, demo_probabilities={"HubSpot": 0.3}),
            chunk_size=60,
            workspace_id=workspace.id,
        )
        await alerts.create(
            session,
            workspace.id,
            AlertRuleIn(
                name="HubSpot visibility",
                experiment_id=experiment.id,
                metrics=["visibility"],
                min_effect_points=10,
                webhook_url=webhook_url,
            ),
            actor=Actor.cli(),
            settings=runtime.settings,
            vault=VAULT,
        )
    await runtime.executor.run_experiment(experiment.id)
    async with transaction(runtime.session_factory) as session:
        stored = await experiment_service.get(session, experiment.id)
        stored.demo_probabilities = {"HubSpot": 0.95}
        await run_service.start_run(session, stored, chunk_size=60, now=utcnow())
    await runtime.executor.run_experiment(experiment.id)
    async with transaction(runtime.session_factory) as session:
        done = await evaluation.evaluate_round(session, experiment.id, 2, settings=runtime.settings)
        assert done is not None and done.webhooks == 1
        ((_alert, ((queued, _log),)),) = await alerts.list_alerts(session, workspace.id)
        return queued.id


async def _delivery(runtime: Runtime, delivery_id: uuid.UUID) -> AlertDelivery:
    async with transaction(runtime.session_factory) as session:
        found = await session.get(AlertDelivery, delivery_id)
        assert found is not None
        return found


async def test_the_webhook_reaches_the_address_resolved_once(
    runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Private addresses allowed (the receiver is on this machine): the name resolves to
    the receiver, then to an address nothing listens on; the POST still reaches the
    receiver, addressed to the name."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    dns = ScriptedResolver(monkeypatch, NAME, ["127.0.0.1"])
    delivery_id = await _fired(runtime, f"http://{NAME}:{port}/hooks/echo")
    dns.answers = ["127.0.0.1", "10.255.255.1"]
    dns.lookups = 0

    sent = await delivery.deliver_due(runtime.session_factory, runtime.settings, VAULT)

    assert sent.sent == [delivery_id]
    assert dns.lookups == 1  # looked up once, for the check; the client did not look again
    (request,) = receiver.received
    assert request.headers["Host"] == f"{NAME}:{port}"
    assert (await _delivery(runtime, delivery_id)).status == DeliveryStatus.SENT


async def test_a_name_rebound_to_a_private_address_after_the_check_is_not_reached(
    runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Private addresses refused: the check sees a public address, the next lookup would
    give this machine's receiver. The request goes to the public address (the network
    edge is httpx's transport, which records it), with the name as Host and TLS name."""
    runtime.settings.alerts.allow_private_webhook_urls = False
    dns = ScriptedResolver(monkeypatch, NAME, ["93.184.216.34"])
    delivery_id = await _fired(runtime, f"https://{NAME}/hooks/echo")
    dns.answers = ["93.184.216.34", "127.0.0.1"]
    dns.lookups = 0
    requests: list[httpx.Request] = []

    def edge(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(edge)) as client:
        sent = await delivery.deliver_due(
            runtime.session_factory, runtime.settings, VAULT, client=client
        )

    assert sent.sent == [delivery_id]
    (request,) = requests
    assert request.url.host == "93.184.216.34" and request.url.path == "/hooks/echo"
    assert request.headers["Host"] == NAME
    assert request.extensions["sni_hostname"] == NAME
    assert dns.lookups == 1
    assert receiver.received == []  # the private address was never reached

    # The next try's check sees the private answer: refused, given up, nothing sent.
    async with transaction(runtime.session_factory) as session:
        found = await session.get(AlertDelivery, delivery_id)
        assert found is not None
        found.status, found.next_attempt_at = DeliveryStatus.PENDING, utcnow()
    async with httpx.AsyncClient(transport=httpx.MockTransport(edge)) as client:
        again = await delivery.deliver_due(
            runtime.session_factory, runtime.settings, VAULT, client=client
        )
    assert again.failed == [delivery_id] and len(requests) == 1
    assert "127.0.0.1" in ((await _delivery(runtime, delivery_id)).last_error or "")


async def test_a_name_that_stops_resolving_is_tried_again_later(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.settings.alerts.allow_private_webhook_urls = False
    ScriptedResolver(monkeypatch, NAME, ["93.184.216.34"])
    delivery_id = await _fired(runtime, f"https://{NAME}/hooks/echo")

    def gone(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", gone)
    async with httpx.AsyncClient(transport=httpx.MockTransport(_never)) as client:
        sent = await delivery.deliver_due(
            runtime.session_factory, runtime.settings, VAULT, client=client
        )
    assert sent.retrying == [delivery_id]  # a DNS failure is not a refusal
    found = await _delivery(runtime, delivery_id)
    assert found.status == DeliveryStatus.PENDING and "does not resolve" in (found.last_error or "")


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent: {request.url}")
