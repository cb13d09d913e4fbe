"""Background jobs: the work a request leaves for after its commit (sending the mail it
queued, preparing the data export it asked for, judging a run's sentiment with a model),
and the alert rules a finished run is evaluated on, so that it never waits on SMTP, a ZIP
or thousands of vendor calls.

:class:`BackgroundJobs` is the port; each process takes one implementation, chosen once
by its executor: in production mode (``ECHO_AI_EXECUTOR=celery``) :class:`CeleryJobs`,
:attr:`echo_ai.execution.runtime.Runtime.background`, which sends a task to the workers'
background queue (:data:`~echo_ai.execution.celery_app.BACKGROUND_QUEUE`); in the embedded
default, the API process does the work itself (:class:`echo_ai.api.background.InProcessJobs`).

Sending never fails the caller: a broker that cannot be reached is logged, and the work is
done later all the same, since its state is in the database: a queued mail is sent by the
scheduler's next tick (``echo-ai beat``), an export still ``preparing`` is dispatched again
by the tick once it has waited too long (:func:`echo_ai.accounts.export.stalled`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

from celery import Celery

from echo_ai.execution.celery_app import (
    DELIVER_MAIL,
    EVALUATE_ALERTS,
    JUDGE_SENTIMENT,
    PREPARE_EXPORT,
)

log = logging.getLogger(__name__)

SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5}
"""A broker that does not answer is given up on within about a second (plus kombu's
connection timeout): the work waits in the database for the scheduler."""


class BackgroundJobs(Protocol):
    async def deliver_mail(self) -> None:
        """Send the queued mails that are due (called after a commit that queued mail)."""

    async def prepare_export(self, export_id: uuid.UUID) -> None:
        """Prepare this data export (called after the commit that asked for it)."""

    async def evaluate_alerts(self, batch_run_id: uuid.UUID) -> None:
        """Evaluate the alert rules on the batch's run if it is complete (called after the
        batch was finalised; :mod:`echo_ai.alerts.evaluation`)."""

    async def judge_sentiment(self, judging_id: uuid.UUID) -> None:
        """Run this sentiment judging (called after the commit that asked for it;
        :mod:`echo_ai.experiments.sentiment_judge`)."""

    async def aclose(self) -> None:
        """Stop what this process runs in the background (at shutdown)."""


class CeleryJobs:
    """Production mode: each job is a task sent to the workers (see the module)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    async def deliver_mail(self) -> None:
        await self._send(DELIVER_MAIL, [], "the scheduler's next tick sends the mail")

    async def prepare_export(self, export_id: uuid.UUID) -> None:
        await self._send(
            PREPARE_EXPORT,
            [str(export_id)],
            "the scheduler dispatches the export again once it has waited too long",
        )

    async def evaluate_alerts(self, batch_run_id: uuid.UUID) -> None:
        await self._send(
            EVALUATE_ALERTS,
            [str(batch_run_id)],
            "the scheduler's tick evaluates complete runs that nobody evaluated",
        )

    async def judge_sentiment(self, judging_id: uuid.UUID) -> None:
        await self._send(
            JUDGE_SENTIMENT,
            [str(judging_id)],
            "the scheduler dispatches the judging again once it has waited too long",
        )

    async def aclose(self) -> None:
        """Nothing runs here."""

    async def _send(self, name: str, args: list[str], later: str) -> bool:
        """Send the task in a thread (kombu blocks); whether the broker took it."""
        try:
            await asyncio.to_thread(
                self.app.send_task, name, args=args, retry=True, retry_policy=SEND_RETRY_POLICY
            )
        except Exception as error:
            log.warning(
                "could not send %s%s to the broker (%s: %s); %s",
                name,
                args,
                type(error).__name__,
                error,
                later,
            )
            return False
        return True
