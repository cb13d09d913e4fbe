"""The scheduler: starts due runs of recurring experiments and re-dispatches stalled batches.

One tick (:meth:`Scheduler.tick`) does both, each in its own transaction, then hands the
work to the executor after the commits. It runs every ``beat_interval_seconds`` inside
``echo-ai serve`` (embedded default) or in ``echo-ai beat`` (production).

A batch is stalled when it has shown no sign of life (its lease's clock: claims, renewals,
stored iterations) for ``stalled_after`` and none of its chunks waits in the broker (asked
between two transactions, never while a row is locked). A
process with the in-process executor also runs :meth:`Scheduler.resume_interrupted` when
it starts: the batches that were running in a process that has gone (``kill -9``, a
crash) need not wait for the sweep.

Several schedulers at once (two beats, or a beat restarting mid-tick) never start a run
twice: a due experiment is claimed by moving its ``next_run_at`` with a conditional
UPDATE (compare-and-set on the value read), and on PostgreSQL the rows are read
``FOR UPDATE SKIP LOCKED`` so concurrent ticks take different rows instead of waiting.
A run that is due while the previous one is still going is skipped, not stacked; so is
one that the workspace's plan does not allow now (:mod:`echo_ai.workspaces.quotas`) or
whose estimated cost the budget left cannot pay for (:mod:`echo_ai.billing.budgets`): it
is not started at all rather than half-run, the experiment keeps why (``skipped_at``,
``skip_reason``, shown by the API, ``echo-ai experiments show`` and its page; cleared by
the next run that starts) and the audit log records it (``experiment.run_skipped``).

The first tick of each UTC day (by the ``now`` it is given) also runs the daily
maintenance tasks (:data:`DAILY_TASKS`: the downgrade of workspaces whose grace period
after a failed payment is over, :func:`downgrade_lapsed_subscriptions`, and the usage
reconciliation, :func:`reconcile_usage`, a workspace per transaction).
Every tick also runs :data:`TICK_TASKS`: the queued mails that are due are sent (here,
also in production mode: mail goes out while the broker is down, and a mail a worker was
not asked to send, or failed to, is not forgotten). In production mode a tick also
dispatches again to the workers the data exports still waiting to be prepared
(:meth:`Scheduler.redispatch_exports`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.accounts import export as exports
from echo_ai.accounts import retention
from echo_ai.billing import budgets
from echo_ai.billing import usage as metering_usage
from echo_ai.config import Settings
from echo_ai.db import rows_changed, transaction, utcnow
from echo_ai.execution.executor import Executor
from echo_ai.execution.lease_keeper import LeaseKeeper
from echo_ai.execution.runtime import Runtime
from echo_ai.mail.delivery import deliver_on_tick
from echo_ai.metering.units import month_of
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs import leases
from echo_ai.runs import service as run_service
from echo_ai.runs.models import ACTIVE_STATUSES, BatchRun, Experiment
from echo_ai.runs.service import WaitingCheck
from echo_ai.schedules import cron as schedules
from echo_ai.workspaces import admission, quotas, subscriptions

if TYPE_CHECKING:  # celery only in production mode
    from echo_ai.execution.background import BackgroundJobs

log = logging.getLogger(__name__)

CLAIM_LIMIT = 100
"""Experiments (and stalled batches) handled per tick; the rest wait for the next one."""


async def start_due_runs(
    session: AsyncSession, *, now: datetime, settings: Settings, limit: int = CLAIM_LIMIT
) -> list[BatchRun]:
    """Claim the experiments whose next run is due and queue a run of each; the batch
    runs queued.

    The new ``next_run_at`` is the first cron time after ``now``, so an experiment that
    missed several times while nothing ran runs once, not once per missed time. An
    experiment whose stored configuration no longer works (a cron or provider that is
    not valid any more) is skipped with an error logged, never blocking the others: its
    schedule is paused if the cron is the problem. A run the workspace's plan does not
    allow now is skipped, with the reason in the audit log; the next one is tried at its
    time.
    """
    due = list(
        await session.scalars(
            select(Experiment)
            .where(
                Experiment.schedule_cron.is_not(None),
                Experiment.schedule_paused.is_(False),
                Experiment.next_run_at <= now,
            )
            .order_by(Experiment.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    started: list[BatchRun] = []
    for experiment in due:
        assert experiment.schedule_cron is not None and experiment.next_run_at is not None
        try:
            following: datetime | None = schedules.next_run(
                experiment.schedule_cron, experiment.schedule_timezone, after=now
            )
        except ValueError:
            log.exception("experiment %s: its schedule is not valid; paused", experiment.id)
            following = None
        claimed = await rows_changed(
            session,
            update(Experiment)
            .where(Experiment.id == experiment.id, Experiment.next_run_at == experiment.next_run_at)
            .values(next_run_at=following, schedule_paused=following is None),
        )
        if claimed != 1 or following is None:
            continue  # another scheduler took it, or it cannot run
        experiment.next_run_at = following
        if await _has_unfinished_batches(session, experiment.id):
            log.warning(
                "experiment %s is due but its previous run is still going: skipped",
                experiment.id,
            )
            continue
        if not await _admitted(session, experiment, settings, now=now):
            continue
        try:
            batches = await run_service.start_run(
                session, experiment, chunk_size=settings.runner.chunk_size, now=now
            )
        except ValueError:
            log.exception("experiment %s: could not start its scheduled run", experiment.id)
            continue
        experiment.skipped_at = None
        experiment.skip_reason = None
        await audit.record_about(
            session,
            Action.RUN_STARTED,
            experiment,
            target_type="experiment",
            actor=Actor.scheduler(),
            details={"run": experiment.runs, "cron": experiment.schedule_cron},
        )
        started.extend(batches)
    return started


async def _admitted(
    session: AsyncSession, experiment: Experiment, settings: Settings, *, now: datetime
) -> bool:
    """Whether the workspace's plan and budgets allow the run now (the checks of a new
    run: :func:`echo_ai.workspaces.admission.admit`, with the experiment's own cap). If
    not, the skip is recorded on the experiment (``skipped_at``, ``skip_reason``) and
    audited; nothing of the run is stored."""
    if experiment.workspace_id is None:
        return True  # rows from before workspaces: nothing to limit them by
    try:
        await admission.admit(
            session,
            experiment.workspace_id,
            prompt=experiment.prompt,
            providers=[ProviderSpec.parse(text) for text in experiment.providers],
            iterations=experiment.iterations,
            grounding=experiment.grounding,
            settings=settings,
            now=now,
            experiment_id=experiment.id,
            experiment_budget_usd=experiment.budget_usd,
        )
    except (
        quotas.QuotaExceeded,
        quotas.PlanForbidsProvider,
        budgets.BudgetExhausted,
        budgets.PriceUnknown,
    ) as refused:
        log.warning("experiment %s: scheduled run skipped: %s", experiment.id, refused.message)
        experiment.skipped_at = now
        experiment.skip_reason = refused.message
        await audit.record_about(
            session,
            Action.RUN_SKIPPED,
            experiment,
            target_type="experiment",
            actor=Actor.scheduler(),
            details={"run": experiment.runs + 1, "reason": refused.code, **refused.details},
        )
        return False
    except ValueError:
        log.exception("experiment %s: its providers are not valid any more", experiment.id)
        return False
    return True


async def stalled_candidates(
    session: AsyncSession, *, now: datetime, stalled_after: timedelta, limit: int = CLAIM_LIMIT
) -> list[uuid.UUID]:
    """Unfinished batches with no sign of life for ``stalled_after``, oldest first: read
    without locks, for the broker to be asked about them outside any transaction (a slow
    Redis must not hold row locks, or SQLite's write lock); :func:`claim_stalled` then
    claims them."""
    return list(
        await session.scalars(
            select(BatchRun.id)
            .where(
                BatchRun.status.in_(ACTIVE_STATUSES), BatchRun.heartbeat_at < now - stalled_after
            )
            .order_by(BatchRun.heartbeat_at)
            .limit(limit)
        )
    )


async def claim_stalled(
    session: AsyncSession,
    candidates: Sequence[uuid.UUID],
    *,
    now: datetime,
    stalled_after: timedelta,
    queued: Collection[uuid.UUID] = frozenset(),
) -> list[BatchRun]:
    """Claim the stalled batches among ``candidates`` (:func:`stalled_candidates`): their
    worker died or their queued work was lost. Each is claimed by moving its heartbeat to
    ``now`` (so it is re-dispatched at most once per ``stalled_after``) and freeing its
    lease, and returned to dispatch again; stored iterations stay and only missing ones
    run.

    A batch with chunks still waiting in the broker (``queued``, asked beforehand: a queue
    deeper than ``stalled_after``) is not stalled: sending it again would pay for its
    calls twice. Its heartbeat moves too (the broker vouches for it), so that the next
    sweeps look at other batches first and at it again only after ``stalled_after``.

    Each change is a conditional UPDATE that re-checks what may have changed since the
    candidates were read: a batch that finished, or that showed a sign of life (a chunk's
    claim, a renewal, a resume, another scheduler's claim), no longer matches.
    """
    silent = and_(BatchRun.status.in_(ACTIVE_STATUSES), BatchRun.heartbeat_at < now - stalled_after)
    waiting = [batch_id for batch_id in candidates if batch_id in queued]
    if waiting:
        log.info("%d batch(es) silent for long still wait in the broker: left there", len(waiting))
        await session.execute(
            update(BatchRun)
            .where(BatchRun.id.in_(waiting), silent)
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
    stalled = [batch_id for batch_id in candidates if batch_id not in queued]
    if not stalled:
        return []
    claimed = await session.scalars(
        update(BatchRun)
        .where(BatchRun.id.in_(stalled), silent)
        .values(heartbeat_at=now, lease_owner=None)
        .returning(BatchRun)
        .execution_options(synchronize_session=False)
    )
    return list(claimed)


async def _has_unfinished_batches(session: AsyncSession, experiment_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(BatchRun.id)
        .where(BatchRun.experiment_id == experiment_id, BatchRun.status.in_(ACTIVE_STATUSES))
        .limit(1)
    )
    return found is not None


async def reconcile_usage(
    session_factory: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
) -> None:
    """Recompute the usage counters of the month of ``now`` (and of the day before's
    month, so the first run of a month closes the previous one) from the iterations
    table, a workspace per transaction (:func:`echo_ai.billing.usage.reconcile_each`)."""
    for month in sorted({month_of(now - timedelta(days=1)), month_of(now)}):
        found = await metering_usage.reconcile_each(session_factory, month=month)
        if found.repaired:
            log.warning(
                "usage of %s: counters of %d workspace(s) were wrong and are repaired: %s",
                month,
                len(found.repaired),
                ", ".join(str(workspace) for workspace in found.repaired),
            )
        log.info(
            "usage of %s reconciled: %d workspace(s), %d batch(es) read",
            month,
            found.workspaces,
            found.batches,
        )


async def downgrade_lapsed_subscriptions(
    session_factory: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
) -> None:
    """Move to ``free`` the workspaces whose payment failed longer ago than the grace
    period (:func:`echo_ai.workspaces.subscriptions.downgrade_lapsed`, in one transaction;
    nothing while billing is off)."""
    async with transaction(session_factory) as session:
        downgraded = await subscriptions.downgrade_lapsed(session, now=now, settings=settings)
    if downgraded:
        log.warning(
            "grace period over: %d workspace(s) moved to free: %s",
            len(downgraded),
            ", ".join(str(workspace) for workspace in downgraded),
        )


@dataclass(frozen=True)
class DailyTask:
    """Maintenance the scheduler runs once per UTC day: ``run(session_factory, now,
    settings)`` opens the transactions it needs (short ones: SQLite has one writer)."""

    name: str
    run: Callable[[async_sessionmaker[AsyncSession], datetime, Settings], Awaitable[None]]


RETENTION_TASK = "retention"

DAILY_TASKS: tuple[DailyTask, ...] = (
    DailyTask("subscription grace periods", downgrade_lapsed_subscriptions),
    DailyTask("usage reconciliation", reconcile_usage),
    DailyTask(RETENTION_TASK, retention.daily_task),
)
"""What :meth:`Scheduler.tick` runs on the first tick of each UTC day, in this order."""

TICK_TASKS: tuple[DailyTask, ...] = (DailyTask("mail delivery", deliver_on_tick),)
"""What :meth:`Scheduler.tick` runs at every tick, after the runs (the queued mails that
are due, first tries and retries: :func:`echo_ai.mail.delivery.deliver_due`); a failing
one is logged and runs again at the next tick."""


Spawn = Callable[[Coroutine[Any, Any, None]], None]
"""How a tick hands work to the executor in the background (the in-process executor's
work lasts as long as the batches); without one, the tick awaits it (the Celery executor
only sends messages)."""


@dataclass
class TickResult:
    started: list[uuid.UUID] = field(default_factory=list)
    """Experiments whose scheduled run was queued."""
    recovered: list[uuid.UUID] = field(default_factory=list)
    """Stalled batches dispatched again."""
    daily: list[str] = field(default_factory=list)
    """The daily tasks run at this tick (the first of a UTC day), by name."""
    each_tick: list[str] = field(default_factory=list)
    """The per-tick tasks run (:data:`TICK_TASKS`), by name."""
    exports: list[uuid.UUID] = field(default_factory=list)
    """Data exports dispatched again to the workers (production mode)."""


@dataclass
class Scheduler:
    session_factory: async_sessionmaker[AsyncSession]
    executor: Executor
    settings: Settings
    stalled_after: timedelta
    leases: LeaseKeeper
    """This process's leases: whose batches the start-up recovery takes over."""
    spawn: Spawn | None = None
    waiting: WaitingCheck | None = None
    """Which batches have chunks waiting in the broker (production mode)."""
    background: BackgroundJobs | None = None
    """The workers' background jobs (production mode): stalled exports go there again."""
    daily_tasks: Sequence[DailyTask] = DAILY_TASKS
    tick_tasks: Sequence[DailyTask] = TICK_TASKS
    last_daily: date | None = None
    """The UTC day whose daily tasks this scheduler ran (none yet: the first tick runs
    them). Kept in the process: a restarted beat runs them again that day, which is
    harmless (each task may run any number of times)."""

    @classmethod
    def of(
        cls,
        runtime: Runtime,
        *,
        spawn: Spawn | None = None,
        tick_tasks: Sequence[DailyTask] = TICK_TASKS,
        daily_tasks: Sequence[DailyTask] = DAILY_TASKS,
    ) -> Scheduler:
        """The scheduler of a process's runtime (its database, executor and settings);
        ``tick_tasks`` and ``daily_tasks``: the per-tick and daily tasks (the layers above
        add theirs: the alerts')."""
        return cls(
            session_factory=runtime.session_factory,
            executor=runtime.executor,
            settings=runtime.settings,
            stalled_after=timedelta(seconds=runtime.settings.worker.stalled_after_seconds),
            leases=runtime.runner.leases,
            spawn=spawn,
            waiting=runtime.queued.waiting if runtime.queued is not None else None,
            background=runtime.background,
            tick_tasks=tick_tasks,
            daily_tasks=daily_tasks,
        )

    async def _hand_over(self, batches: Sequence[BatchRun]) -> None:
        """Give the batches to the executor: in the background with ``spawn``."""
        work = self.executor.run_batches(batches)
        if self.spawn is None:
            await work
        else:
            self.spawn(work)

    async def resume_interrupted(self, *, now: datetime | None = None) -> list[BatchRun]:
        """At the start of a process with the in-process executor: run again, here, every
        unfinished batch that nobody runs (of every experiment: interrupted by the end of
        the process that ran them, or queued and never started). Their stored iterations
        stay and only the missing ones run. Each experiment concerned gets an audit event;
        the batches taken over are returned.

        Only such a process may do this: with Celery, the batches belong to the workers,
        and the broker-aware sweep of ``echo-ai beat`` recovers those whose worker died.
        """
        now = now or utcnow()
        async with transaction(self.session_factory) as session:
            batches = await leases.take_orphans(
                session, owner=self.leases.owner, now=now, ttl=self.leases.ttl
            )
            experiments = sorted({batch.experiment_id for batch in batches}, key=str)
            for experiment_id in experiments:
                experiment = await run_service.find_experiment(session, experiment_id)
                await audit.record_about(
                    session,
                    Action.EXPERIMENT_RESUMED,
                    experiment,
                    target_type="experiment",
                    actor=Actor.scheduler(),
                    details={
                        "reason": "start-up",
                        "batches": sum(b.experiment_id == experiment_id for b in batches),
                    },
                )
        if batches:
            log.warning(
                "resumed %d interrupted batch(es) of %d experiment(s) at start-up: %s",
                len(batches),
                len(experiments),
                ", ".join(str(batch.id) for batch in batches),
            )
            await self._hand_over(batches)
        return batches

    async def tick(self, *, now: datetime | None = None) -> TickResult:
        """Start due runs, then re-dispatch stalled batches (each step in its own
        transaction), and hand all that work to the executor after the commits, in one
        go so that the queue alternates between their providers."""
        now = now or utcnow()
        async with transaction(self.session_factory) as session:
            started = await start_due_runs(session, now=now, settings=self.settings)
        stalled = await self._claim_stalled(now)
        if started or stalled:
            await self._hand_over([*started, *stalled])
            log.info("scheduler started %d batch(es), re-dispatched %d", len(started), len(stalled))
        return TickResult(
            started=list(dict.fromkeys(batch.experiment_id for batch in started)),
            recovered=[batch.id for batch in stalled],
            daily=await self.run_daily(now),
            each_tick=await self.run_each_tick(now),
            exports=await self.redispatch_exports(now),
        )

    async def redispatch_exports(self, now: datetime) -> list[uuid.UUID]:
        """Production mode: send again to the workers the exports that no preparation has
        started for ``worker.visibility_timeout_seconds`` (longer than a task may run),
        failing those waiting for a day (:func:`echo_ai.accounts.export.stalled`); their
        ids. A failure is logged: the next tick tries again."""
        if self.background is None:
            return []
        after = timedelta(seconds=self.settings.worker.visibility_timeout_seconds)
        try:
            async with transaction(self.session_factory) as session:
                again = await exports.stalled(session, now=now, after=after)
        except Exception:
            log.exception("the sweep of stalled exports failed; it runs again at the next tick")
            return []
        for export_id in again:
            await self.background.prepare_export(export_id)
        if again:
            log.warning("dispatched %d stalled export(s) again: %s", len(again), again)
        return again

    async def run_each_tick(self, now: datetime) -> list[str]:
        """The per-tick tasks (:data:`TICK_TASKS`); a failing one is logged without
        stopping the others. The names of those that ran."""
        done: list[str] = []
        for task in self.tick_tasks:
            try:
                await task.run(self.session_factory, now, self.settings)
            except Exception:
                log.exception("tick task %r failed; it runs again at the next tick", task.name)
            else:
                done.append(task.name)
        return done

    async def run_daily(self, now: datetime) -> list[str]:
        """The daily tasks, if this is the first tick of ``now``'s UTC day; a failing one
        is logged without stopping the others (it runs again the next day). The names of
        the tasks that ran."""
        today = now.astimezone(UTC).date()
        if self.last_daily == today:
            return []
        self.last_daily = today
        done: list[str] = []
        for task in self.daily_tasks:
            try:
                await task.run(self.session_factory, now, self.settings)
            except Exception:
                log.exception("daily task %r failed; it runs again tomorrow", task.name)
            else:
                done.append(task.name)
        return done

    async def _claim_stalled(self, now: datetime) -> list[BatchRun]:
        """Read the candidates, ask the broker about them with no transaction open, then
        claim them (see :func:`claim_stalled`)."""
        async with transaction(self.session_factory) as session:
            candidates = await stalled_candidates(
                session, now=now, stalled_after=self.stalled_after
            )
        if not candidates:
            return []
        queued = await self.waiting(candidates) if self.waiting is not None else set()
        async with transaction(self.session_factory) as session:
            return await claim_stalled(
                session, candidates, now=now, stalled_after=self.stalled_after, queued=queued
            )

    async def run_forever(
        self, interval_seconds: float, *, on_tick: Callable[[], None] | None = None
    ) -> None:
        """Tick every ``interval_seconds`` until cancelled. A failing tick (the database
        briefly away) is logged and tried again at the next; ``on_tick`` is called after
        each tick that succeeded (the beat's liveness heartbeat)."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed; retrying in %.0f s", interval_seconds)
            else:
                if on_tick is not None:
                    on_tick()
            await asyncio.sleep(interval_seconds)
