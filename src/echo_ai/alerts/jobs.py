"""The alerts' background work: after a batch is finalised, evaluate its run and send the
webhooks (:func:`after_batch`); at every scheduler tick, catch up on runs nobody evaluated
and send the webhook retries that are due (:func:`on_tick`, one of the scheduler's
``tick_tasks``)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.accounts import retention
from echo_ai.alerts import delivery, evaluation
from echo_ai.alerts.retention import ALERT_ROWS
from echo_ai.config import Settings
from echo_ai.credentials.vault import Vault
from echo_ai.schedules.scheduler import DAILY_TASKS, RETENTION_TASK, TICK_TASKS, DailyTask
from echo_ai.security.keys import load_key_ring

log = logging.getLogger(__name__)


async def after_batch(
    session_factory: async_sessionmaker[AsyncSession],
    batch_run_id: uuid.UUID,
    settings: Settings,
    *,
    vault: Vault | None = None,
) -> evaluation.Evaluated | None:
    """Evaluate the batch's run if it is now complete (once: see
    :mod:`echo_ai.alerts.evaluation`), then send the webhooks due."""
    done = await evaluation.evaluate_batch(session_factory, batch_run_id, settings)
    if done is not None and done.webhooks:
        await delivery.deliver_due(
            session_factory, settings, vault or Vault(load_key_ring(settings))
        )
    return done


async def on_tick(
    session_factory: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
) -> None:
    """The scheduler's per-tick step (``echo-ai serve``, ``echo-ai beat``)."""
    caught = await evaluation.evaluate_pending(session_factory, settings, now=now)
    if caught:
        log.warning("alerts: evaluated %d run(s) that no job had", len(caught))
    sent = await delivery.deliver_due(
        session_factory, settings, Vault(load_key_ring(settings)), now=now
    )
    if sent.sent or sent.retrying or sent.failed:
        log.info(
            "webhooks: %d sent, %d to retry, %d given up",
            len(sent.sent),
            len(sent.retrying),
            len(sent.failed),
        )


ALERT_TICK_TASKS = (*TICK_TASKS, DailyTask("alerts", on_tick))
"""The scheduler's per-tick tasks with the alerts' (catch-up evaluation, webhook retries):
what ``echo-ai serve`` and ``echo-ai beat`` run."""


async def retention_with_alerts(
    session_factory: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
) -> None:
    """The daily retention pass, the alerts' rows included (:mod:`echo_ai.alerts.retention`)."""
    await retention.daily_task(session_factory, now, settings, expiring=ALERT_ROWS)


ALERT_DAILY_TASKS = tuple(
    DailyTask(task.name, retention_with_alerts) if task.name == RETENTION_TASK else task
    for task in DAILY_TASKS
)
"""The scheduler's daily tasks, the retention pass with the alerts' rows: what ``echo-ai
serve`` and ``echo-ai beat`` run."""
