"""Evaluating the alert rules on a run once it is complete: once per run, whoever sees it.

A run is evaluated when the batch that completes it is finalised (the runner's
``on_finalized`` hook: a background job, :class:`echo_ai.api.background.InProcessJobs` in
the embedded service, the ``echo_ai.evaluate_alerts`` task on the background queue in
production) and, should that job be lost, by the scheduler's tick
(:func:`evaluate_pending`). Either way it starts by inserting the run's
:class:`~echo_ai.alerts.models.AlertEvaluation` row with ``ON CONFLICT DO NOTHING``: of two
processes (two workers finishing the last batches at once, or a job and a tick) exactly one
inserts it and evaluates; the other sees nothing inserted and stops. The alerts, their
deliveries and the e-mails are written in that same transaction, so a run is alerted once
or (after a rollback) not yet, never twice.

Only the rules that exist when the run is evaluated (as it completes) apply to it: a rule
added later starts with the next run.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.alerts.models import (
    Alert,
    AlertDelivery,
    AlertEvaluation,
    AlertRule,
    Channel,
    CompareWith,
    DeliveryStatus,
)
from echo_ai.alerts.rules import RuleSpec, Verdict, judge, metrics_of
from echo_ai.analysis.significance import BASELINE_RUNS, ChangeTest, RunFigures, pool_runs
from echo_ai.config import Settings
from echo_ai.db import dialect_insert, transaction, utcnow
from echo_ai.experiments import history
from echo_ai.experiments.schemas import SYNTHETIC_NOTICE
from echo_ai.mail.compose import base_url, enqueue
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor, ActorKind
from echo_ai.runs.models import BatchRun, Experiment, ExperimentRound

log = logging.getLogger(__name__)

CATCH_UP_WINDOW = timedelta(days=2)
"""How far back the tick looks for complete runs nobody evaluated."""
CATCH_UP_LIMIT = 50


def spec_of(rule: AlertRule) -> RuleSpec:
    return RuleSpec(
        metrics=metrics_of(rule.metrics),
        brands=frozenset(rule.brands),
        providers=frozenset(rule.providers),
        min_effect=rule.min_effect_points / 100,
        level=rule.level,
    )


def change_of(test: ChangeTest) -> dict[str, Any]:
    """A fired change as stored and sent (rates as fractions, the change in points)."""
    return {
        "label": test.figure.label,
        "metric": str(test.figure.metric),
        "provider": test.figure.provider,
        "brand": test.figure.brand,
        "before": test.before.value if test.before else None,
        "after": test.after.value if test.after else None,
        "points": round(test.points * 100, 2) if test.points is not None else None,
        "p_value": test.p_value,
        "q_value": test.q_value,
        "synthetic": test.synthetic,
    }


def change_line(change: dict[str, Any]) -> str:
    """One change in a sentence: ``visibility, all providers: 30% → 62% (+32.0 points, q =
    0.001)``."""

    def percent(value: float | None) -> str:
        return "–" if value is None else f"{value * 100:.0f}%"

    q = change.get("q_value")
    q_text = "" if q is None else (", q < 0.001" if q < 0.001 else f", q = {q:.3f}")
    points = change.get("points")
    moved = "" if points is None else f" ({points:+.1f} points{q_text})"
    tag = " [synthetic]" if change.get("synthetic") else ""
    return (
        f"{change['label']}: {percent(change['before'])} → {percent(change['after'])}{moved}{tag}"
    )


@dataclass
class Evaluated:
    experiment_id: uuid.UUID
    round: int
    alerts: list[uuid.UUID] = field(default_factory=list)
    webhooks: int = 0
    """Webhook deliveries queued (sent by :func:`echo_ai.alerts.delivery.deliver_due`)."""


async def _claim(
    session: AsyncSession, experiment_id: uuid.UUID, round_: int, now: datetime
) -> bool:
    insert = dialect_insert(session)
    result = await session.execute(
        insert(AlertEvaluation)
        .values(
            id=uuid.uuid4(), experiment_id=experiment_id, round=round_, evaluated_at=now, fired=0
        )
        .on_conflict_do_nothing(index_elements=["experiment_id", "round"])
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _before(
    rule: AlertRule, figures: dict[int, RunFigures], previous: int | None, baseline: list[int]
) -> tuple[RunFigures, list[int]] | None:
    if rule.compare_with is CompareWith.BASELINE:
        if not baseline:
            return None
        return pool_runs([figures[n] for n in baseline]), list(baseline)
    if previous is None:
        return None
    return figures[previous], [previous]


async def evaluate_round(
    session: AsyncSession,
    experiment_id: uuid.UUID,
    round_: int,
    *,
    settings: Settings,
    now: datetime | None = None,
) -> Evaluated | None:
    """Evaluate the rules on this run if it is complete and nobody has (see the module);
    None when there was nothing to do here."""
    now = now or utcnow()
    stored = await session.scalar(
        select(ExperimentRound).where(
            ExperimentRound.experiment_id == experiment_id, ExperimentRound.round == round_
        )
    )
    if stored is None or not stored.complete:
        return None
    experiment = await session.get(Experiment, experiment_id)
    if experiment is None or experiment.workspace_id is None:
        return None
    if not await _claim(session, experiment_id, round_, now):
        return None
    rules = list(
        await session.scalars(
            select(AlertRule)
            .where(
                AlertRule.workspace_id == experiment.workspace_id,
                AlertRule.enabled.is_(True),
                AlertRule.created_at <= now,
                (AlertRule.experiment_id == experiment_id) | AlertRule.experiment_id.is_(None),
            )
            .order_by(AlertRule.created_at, AlertRule.id)
        )
    )
    done = Evaluated(experiment_id, round_)
    if not rules:
        return done
    stored_rounds = await history.rounds(
        session, experiment_id, limit=BASELINE_RUNS + 1, before_round=round_ + 1
    )
    batches = await history.round_batches(session, experiment_id, [r.round for r in stored_rounds])
    rows = history.run_rows(stored_rounds, batches)
    target = history.target_of(experiment)
    (significance,) = history.significance_of_runs(rows, target=target, rounds=[round_])
    figures = {row.round: history.comparable_figures(row, target=target) for row in rows}
    for rule in rules:
        before = _before(rule, figures, significance.previous, significance.baseline)
        if before is None:
            continue
        verdict = judge(before[0], figures[round_], spec_of(rule))
        if verdict.fires:
            alert = await _fire(
                session, rule, experiment, round_, before[1], verdict, settings, now
            )
            done.alerts.append(alert.id)
            done.webhooks += rule.webhook_url is not None
    evaluation = await session.scalar(
        select(AlertEvaluation).where(
            AlertEvaluation.experiment_id == experiment_id, AlertEvaluation.round == round_
        )
    )
    assert evaluation is not None
    evaluation.fired = len(done.alerts)
    await session.flush()
    return done


async def _fire(
    session: AsyncSession,
    rule: AlertRule,
    experiment: Experiment,
    round_: int,
    compared_with: list[int],
    verdict: Verdict,
    settings: Settings,
    now: datetime,
) -> Alert:
    assert experiment.workspace_id is not None
    changes = [change_of(test) for test in verdict.fired]
    alert = Alert(
        workspace_id=experiment.workspace_id,
        rule_id=rule.id,
        experiment_id=experiment.id,
        round=round_,
        compared_with=compared_with,
        changes=changes,
        tested=verdict.tests.tested,
        synthetic=any(test.synthetic for test in verdict.fired),
        created_at=now,
    )
    session.add(alert)
    await session.flush()
    if rule.webhook_url:
        session.add(
            AlertDelivery(
                alert_id=alert.id,
                channel=Channel.WEBHOOK,
                target=rule.webhook_url,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    link = f"{base_url(settings)}/experiments/{experiment.id}/alerts"
    for address in rule.email_to:
        await enqueue(
            session,
            to=address,
            kind="alert",
            context={
                "rule": rule.name,
                "experiment": experiment.name,
                "round": round_,
                "compared_with": ", ".join(str(n) for n in compared_with),
                "baseline": rule.compare_with is CompareWith.BASELINE,
                "changes": [change_line(change) for change in changes],
                "tested": verdict.tests.tested,
                "level": f"{rule.level * 100:g}%",
                "synthetic_notice": SYNTHETIC_NOTICE if alert.synthetic else None,
                "link": link,
            },
            settings=settings,
            now=now,
        )
        session.add(
            AlertDelivery(
                alert_id=alert.id,
                channel=Channel.EMAIL,
                target=address,
                status=DeliveryStatus.MAILED,
                attempts=1,
                next_attempt_at=now,
                created_at=now,
                finished_at=now,
            )
        )
    await audit.record(
        session,
        Action.ALERT_FIRED,
        actor=Actor(kind=ActorKind.SYSTEM),
        workspace_id=experiment.workspace_id,
        target_type="alert",
        target_id=alert.id,
        details={
            "rule_id": str(rule.id),
            "experiment_id": str(experiment.id),
            "round": round_,
            "changes": [change["label"] for change in changes],
        },
    )
    await session.flush()
    return alert


async def evaluate_batch(
    session_factory: async_sessionmaker[AsyncSession],
    batch_run_id: uuid.UUID,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> Evaluated | None:
    """Evaluate the run of this (just finalised) batch, if that completed it."""
    async with transaction(session_factory) as session:
        found = (
            await session.execute(
                select(BatchRun.experiment_id, BatchRun.round).where(BatchRun.id == batch_run_id)
            )
        ).one_or_none()
        if found is None:
            return None
        return await evaluate_round(
            session, found.experiment_id, found.round, settings=settings, now=now
        )


async def evaluate_pending(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Evaluated]:
    """The tick's catch-up: the complete runs of the last :data:`CATCH_UP_WINDOW` in
    workspaces with a rule that nobody evaluated (a lost job), each in its own
    transaction."""
    now = now or utcnow()
    async with transaction(session_factory) as session:
        has_rule = (
            select(AlertRule.id)
            .where(AlertRule.workspace_id == Experiment.workspace_id, AlertRule.enabled.is_(True))
            .exists()
        )
        evaluated = (
            select(AlertEvaluation.id)
            .where(
                AlertEvaluation.experiment_id == ExperimentRound.experiment_id,
                AlertEvaluation.round == ExperimentRound.round,
            )
            .exists()
        )
        todo = (
            await session.execute(
                select(ExperimentRound.experiment_id, ExperimentRound.round)
                .join(Experiment, Experiment.id == ExperimentRound.experiment_id)
                .where(
                    ExperimentRound.complete.is_(True),
                    ExperimentRound.updated_at >= now - CATCH_UP_WINDOW,
                    has_rule,
                    ~evaluated,
                )
                .order_by(ExperimentRound.updated_at)
                .limit(CATCH_UP_LIMIT)
            )
        ).all()
    found = []
    for experiment_id, round_ in todo:
        async with transaction(session_factory) as session:
            done = await evaluate_round(session, experiment_id, round_, settings=settings, now=now)
        if done is not None:
            found.append(done)
    return found
