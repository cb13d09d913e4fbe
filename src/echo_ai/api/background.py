"""The API process's background jobs (:class:`~echo_ai.execution.background.BackgroundJobs`):
:func:`jobs_of` is the one place that chooses who does them.

- Production mode (``ECHO_AI_EXECUTOR=celery``): the workers. The API sends a task after
  the commit (:class:`~echo_ai.execution.background.CeleryJobs`) and runs no mail loop and
  no export here.
- Embedded default: this process (:class:`InProcessJobs`): its mail loop sends the queued
  mail, an export is prepared, a sentiment judging run, in a background task.
"""

from __future__ import annotations

import uuid

from echo_ai.accounts import export as exports
from echo_ai.alerts.jobs import after_batch
from echo_ai.execution.background import BackgroundJobs
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import sentiment_judge
from echo_ai.mail.delivery import MailLoop


class InProcessJobs:
    """The embedded default: the work is done in this process, in the background."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.mail_loop = MailLoop(runtime.session_factory, runtime.settings)

    async def deliver_mail(self) -> None:
        self.mail_loop.wake()

    async def prepare_export(self, export_id: uuid.UUID) -> None:
        settings = self.runtime.settings
        await exports.prepare(
            self.runtime.session_factory,
            export_id,
            data_dir=settings.data_dir,
            link_hours=settings.privacy.export_link_hours,
        )

    async def evaluate_alerts(self, batch_run_id: uuid.UUID) -> None:
        await after_batch(self.runtime.session_factory, batch_run_id, self.runtime.settings)

    async def judge_sentiment(self, judging_id: uuid.UUID) -> None:
        await sentiment_judge.run(self.runtime.session_factory, self.runtime, judging_id)

    async def aclose(self) -> None:
        await self.mail_loop.stop()


def jobs_of(runtime: Runtime) -> BackgroundJobs:
    """The workers' queue when the runtime has one (production mode), else this process."""
    return runtime.background or InProcessJobs(runtime)
