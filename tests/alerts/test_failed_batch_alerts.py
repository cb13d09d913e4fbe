"""A run that the failure of one of its batches completes is evaluated at once, by the
runner's end-of-batch hook as the processes wire it (not only by the scheduler's catch-up),
and alerted once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from echo_ai.alerts import service as alerts
from echo_ai.alerts.jobs import after_batch
from echo_ai.alerts.models import Alert, AlertEvaluation
from echo_ai.alerts.schemas import AlertRuleIn
from echo_ai.credentials.vault import Vault
from echo_ai.db import transaction, utcnow
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import service as experiment_service
from echo_ai.privacy.audit import Actor
from echo_ai.providers.base import AuthenticationFailed, Completion, CompletionRequest
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchStatus
from echo_ai.security.keys import KeyRing
from echo_ai.workspaces.local import local_workspace
from tests.factories import experiment_input, stored_batches

pytestmark = pytest.mark.usefixtures("backend")


class _RefusingVendor:
    """A stand-in vendor at the network edge: every call waits at ``gate``, then the API
    key is refused (a fatal error: the batch fails)."""

    name = "openai"

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def complete(self, request: CompletionRequest) -> Completion:
        await self.gate.wait()
        raise AuthenticationFailed("invalid x-api-key", status_code=401)

    async def aclose(self) -> None:
        return None


async def test_a_run_completed_by_a_failed_batch_is_alerted_by_the_hook(
    runtime: Runtime,
) -> None:
    vendor = _RefusingVendor()
    runtime.providers.register(vendor)
    hooked: list[uuid.UUID] = []

    async def on_end(batch_run_id: uuid.UUID) -> None:
        hooked.append(batch_run_id)
        await after_batch(runtime.session_factory, batch_run_id, runtime.settings)
        vendor.gate.set()  # the demo batch ended first: the refused one completes the run

    runtime.runner.on_finalized = on_end
    async with transaction(runtime.session_factory) as session:
        workspace = await local_workspace(session)
        experiment = await experiment_service.create(
            session,
            experiment_input(
                providers=["demo", "openai:gpt-4o-mini"],
                iterations=60,
                demo_probabilities={"HubSpot": 0.3},
            ),
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
            ),
            actor=Actor.cli(),
            settings=runtime.settings,
            vault=Vault(KeyRing("k" * 64)),
        )
    await runtime.executor.run_experiment(experiment.id)
    vendor.gate = asyncio.Event()
    async with transaction(runtime.session_factory) as session:
        stored = await experiment_service.get(session, experiment.id)
        stored.demo_probabilities = {"HubSpot": 0.95}
        await run_service.start_run(session, stored, chunk_size=60, now=utcnow())
    await runtime.executor.run_experiment(experiment.id)

    batches = await stored_batches(runtime.session_factory, experiment.id)
    second = {b.provider: b for b in batches if b.round == 2}
    assert second["openai"].status == BatchStatus.FAILED
    assert hooked[-2:] == [second["demo"].id, second["openai"].id]
    async with transaction(runtime.session_factory) as session:
        evaluated = list(await session.scalars(select(AlertEvaluation.round)))
        fired = list(await session.scalars(select(Alert)))
        assert sorted(evaluated) == [1, 2]  # each run evaluated when its last batch failed
        assert [alert.round for alert in fired] == [2]
        assert fired[0].compared_with == [1]
        assert await session.scalar(select(func.count()).select_from(Alert)) == 1
