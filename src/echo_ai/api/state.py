"""What the service holds for its lifetime, built once at start-up."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from echo_ai.accounts import export as exports
from echo_ai.alerts.jobs import ALERT_DAILY_TASKS, ALERT_TICK_TASKS
from echo_ai.api.background import jobs_of
from echo_ai.config import Settings
from echo_ai.db import transaction, utcnow
from echo_ai.execution.background import BackgroundJobs
from echo_ai.execution.executor import LocalExecutor
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import sentiment_judge
from echo_ai.mail.compose import on_enqueue
from echo_ai.schedules.scheduler import Scheduler
from echo_ai.security.keys import KeyRing
from echo_ai.security.tokens import TokenSigner

log = logging.getLogger(__name__)

HALT_SECONDS = 10.0
"""How long a stopping service lets its batches end their calls in flight before
cancelling them."""
FINISH_SECONDS = 10.0
"""How long a stopping service waits for the work it lets finish (a password-reset mail)."""

TOKEN_ISSUER = "echo-ai"
TOKEN_AUDIENCE = "echo-ai-api"


@dataclass
class ServiceState:
    settings: Settings
    runtime: Runtime
    keys: KeyRing
    signer: TokenSigner
    jobs: BackgroundJobs
    """Who sends the mail a request queued and prepares the exports it asked for: the
    workers in production mode, this process otherwise (:func:`jobs_of`)."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Work started after a commit (batches of the in-process executor, background jobs
    or the sending of their tasks)."""
    finishing: set[asyncio.Task[None]] = field(default_factory=set)
    """Of ``background``, the work to let finish at shutdown (``db.after_commit(finish=True)``)."""
    scheduler_task: asyncio.Task[None] | None = None
    _unsubscribe_mail: Callable[[], None] | None = None

    def start_background(self, job: Coroutine[Any, Any, None], *, finish: bool = False) -> None:
        task = asyncio.create_task(job)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        if finish:
            self.finishing.add(task)
            task.add_done_callback(self.finishing.discard)

    async def stop_background(self) -> None:
        """At shutdown: let short promised work finish (for up to
        :data:`FINISH_SECONDS`), then stop running batches; stored iterations stay,
        resume runs the rest. The background jobs stop last (a job started just before
        could still wake them)."""
        if self.finishing:
            await asyncio.wait(set(self.finishing), timeout=FINISH_SECONDS)
        if self._unsubscribe_mail is not None:
            self._unsubscribe_mail()
        if self.scheduler_task is not None:
            self.scheduler_task.cancel()
            await asyncio.gather(self.scheduler_task, return_exceptions=True)
        # Batches are asked to stop first and given a while to end on their own: a task
        # cancelled mid-transaction could leave its connection holding SQLite's write lock
        # until its rollback ran, and every later write (the writer's drain, the leases'
        # release) waited the whole busy timeout for it.
        if isinstance(self.runtime.executor, LocalExecutor) and self.background:
            self.runtime.executor.halt_all()
            await asyncio.wait(set(self.background), timeout=HALT_SECONDS)
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.jobs.aclose()

    def start_mail_jobs(self) -> None:
        """After each commit that queued mail in this process, start ``jobs.deliver_mail``
        in the background (retries: the scheduler's tick)."""
        self._unsubscribe_mail = on_enqueue(lambda: self.start_background(self.jobs.deliver_mail()))

    async def resume_exports(self) -> list[uuid.UUID]:
        """At the start of a process with the in-process executor: prepare again, here,
        the exports a previous process left ``preparing`` (it was killed while writing
        them: nobody else will), failing those asked for more than a day ago
        (:func:`echo_ai.accounts.export.stalled`); their ids."""
        async with transaction(self.runtime.session_factory) as session:
            again = await exports.stalled(session, now=utcnow(), after=timedelta(0))
        for export_id in again:
            self.start_background(self.jobs.prepare_export(export_id))
        if again:
            log.warning("preparing %d interrupted export(s) again: %s", len(again), again)
        return again

    async def resume_judgings(self) -> list[uuid.UUID]:
        """At the start of a process with the in-process executor: run again, here, the
        sentiment judgings a previous process left queued or running (they go on after
        their last chunk stored), failing those asked for more than a day ago
        (:func:`echo_ai.experiments.sentiment_judge.stalled`); their ids."""

        async def later(judging_id: uuid.UUID) -> None:
            self.start_background(self.jobs.judge_sentiment(judging_id))

        return await sentiment_judge.redispatch(
            self.runtime.session_factory, later, now=utcnow(), after=timedelta(0)
        )

    def start_scheduler(self) -> None:
        """With the in-process executor, this process also runs the scheduler (recurring
        experiments, stalled batches), after resuming the batches that a previous process
        left unfinished (it ran them: nobody else will); with Celery, ``echo-ai beat``
        does both, and nothing is resumed at start-up (workers may be running them)."""
        if self.settings.executor != "local":
            return
        scheduler = Scheduler.of(
            self.runtime,
            spawn=self.start_background,
            tick_tasks=ALERT_TICK_TASKS,
            daily_tasks=ALERT_DAILY_TASKS,
        )

        async def run() -> None:
            try:
                await scheduler.resume_interrupted()
            except Exception:  # the sweep will find them once they count as stalled
                log.exception("could not resume the interrupted batches at start-up")
            try:
                await self.resume_exports()
            except Exception:
                log.exception("could not resume the interrupted data exports at start-up")
            try:
                await self.resume_judgings()
            except Exception:
                log.exception("could not resume the interrupted sentiment judgings at start-up")
            await scheduler.run_forever(self.settings.worker.beat_interval_seconds)

        self.scheduler_task = asyncio.create_task(run())


def build_state(settings: Settings, runtime: Runtime, keys: KeyRing) -> ServiceState:
    state = ServiceState(
        settings=settings,
        runtime=runtime,
        keys=keys,
        jobs=jobs_of(runtime),
        signer=TokenSigner(
            keys.signing_keys(),
            issuer=TOKEN_ISSUER,
            audience=TOKEN_AUDIENCE,
            ttl=timedelta(minutes=settings.auth.access_token_minutes),
        ),
    )

    async def evaluate_alerts(batch_run_id: uuid.UUID) -> None:
        # In the background: a webhook's slow receiver must not hold up the batch's end.
        state.start_background(state.jobs.evaluate_alerts(batch_run_id))

    runtime.runner.on_finalized = evaluate_alerts
    return state
