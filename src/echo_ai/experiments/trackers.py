"""Tracker use cases: a named set of prompts, one experiment each (all asked alike), with
figures per prompt, per topic and overall.

A tracker reuses everything an experiment has (runs, schedules, re-scoring, exports): its
prompts are experiments queued by :func:`echo_ai.experiments.service.queue`, in the
caller's transaction, after the whole set has been admitted at once (the plan's quotas and
the workspace's budget) so a tracker is never half created. Pooled figures are read from
each prompt's stored combined metrics (never from answers) and their intervals treat
prompts as clusters (:mod:`echo_ai.analysis.clusters`).
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.clusters import pooled_rate
from echo_ai.analysis.metrics import BatchMetrics, Rate
from echo_ai.brands import service as brand_service
from echo_ai.db import utcnow
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import candidates as candidate_writer
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.schemas import ExperimentCreate, ExperimentSettings
from echo_ai.experiments.tracker_schemas import (
    MAX_TRACKER_PROMPTS,
    CandidatesIn,
    CandidatesOut,
    PooledRateOut,
    TrackerCreate,
    TrackerDetail,
    TrackerFiguresOut,
    TrackerOut,
    TrackerPromptIn,
    TrackerPromptOut,
)
from echo_ai.privacy import audit
from echo_ai.privacy.audit import Action, Actor
from echo_ai.providers.registry import ProviderSpec
from echo_ai.runs.models import (
    FINISHED_STATUSES,
    BatchRun,
    Experiment,
    ExperimentRound,
    Tracker,
)
from echo_ai.schedules.schemas import ScheduleIn
from echo_ai.workspaces import admission, quotas

RATES = ("visibility", "top1", "top3", "citation_rate")


async def _admit_set(
    session: AsyncSession,
    settings: ExperimentSettings,
    prompts: Sequence[TrackerPromptIn],
    *,
    workspace_id: uuid.UUID,
    runtime: Runtime,
) -> None:
    """Refuse the whole set before any of it is stored: the providers' keys, the plan
    (vendors, size, month, in flight, schedules) and the workspace's budget for all the
    prompts at once (each experiment's own cap is checked as it is queued)."""
    await experiment_service.check_providers(
        session, runtime, settings.provider_specs, workspace_id
    )
    if settings.brand_profile_id is not None:
        # A missing or broken profile is refused here, not after the first prompt is stored.
        await profile_names(session, workspace_id, settings.brand_profile_id)
    admit = functools.partial(
        admission.admit,
        session,
        workspace_id,
        prompt=max((item.prompt for item in prompts), key=len),
        providers=settings.provider_specs,
        iterations=settings.iterations,
        grounding=settings.grounding,
        settings=runtime.settings,
        now=utcnow(),
    )
    if settings.budget_amount is not None:
        # Each experiment's own cap, checked on its own estimate (all are alike).
        await admit(experiment_budget_usd=settings.budget_amount)
    await admit(experiments=len(prompts))
    if settings.schedule is not None:
        await quotas.admit_schedule(
            session, workspace_id, settings=runtime.settings, count=len(prompts)
        )


async def _queue_prompts(
    session: AsyncSession,
    tracker: Tracker,
    settings: ExperimentSettings,
    prompts: Sequence[TrackerPromptIn],
    *,
    actor: Actor,
    runtime: Runtime,
) -> list[Experiment]:
    common = settings.model_dump(mode="json", exclude={"name", "prompts"}, exclude_none=True)
    created: list[Experiment] = []
    for item in prompts:
        data = ExperimentCreate.model_validate({**common, "prompt": item.prompt})
        queued = await experiment_service.queue(
            session, data, workspace_id=tracker.workspace_id, actor=actor, runtime=runtime
        )
        queued.experiment.tracker_id = tracker.id
        queued.experiment.topic = item.topic
        created.append(queued.experiment)
    await session.flush()
    return created


async def create(
    session: AsyncSession,
    data: TrackerCreate,
    *,
    workspace_id: uuid.UUID,
    actor: Actor,
    runtime: Runtime,
) -> tuple[Tracker, list[Experiment]]:
    """Store the tracker and queue one experiment per prompt (all or none: the set is
    admitted before anything is stored)."""
    await _admit_set(session, data, data.prompts, workspace_id=workspace_id, runtime=runtime)
    tracker = Tracker(workspace_id=workspace_id, name=data.name)
    session.add(tracker)
    await session.flush()
    created = await _queue_prompts(
        session, tracker, data, data.prompts, actor=actor, runtime=runtime
    )
    await audit.record_about(
        session,
        Action.TRACKER_CREATED,
        tracker,
        target_type="tracker",
        actor=actor,
        details={"prompts": len(created), "providers": data.providers},
    )
    return tracker, created


def _settings_of(experiment: Experiment) -> ExperimentSettings:
    """How the tracker's prompts are asked, from one of its experiments."""
    data = experiment_service.rerun_input(experiment)
    settings = ExperimentSettings.model_validate(
        data.model_dump(mode="json", exclude={"name", "prompt"}, exclude_none=True)
    )
    if experiment.schedule_cron is not None:
        schedule = ScheduleIn(cron=experiment.schedule_cron, timezone=experiment.schedule_timezone)
        settings = settings.model_copy(update={"schedule": schedule})
    return settings


async def add_prompts(
    session: AsyncSession,
    tracker: Tracker,
    prompts: Sequence[TrackerPromptIn],
    *,
    actor: Actor,
    runtime: Runtime,
) -> list[Experiment]:
    """Queue more prompts, asked as the tracker's first prompt is (its brands, providers,
    iterations or precision, persona, place and schedule)."""
    existing = await experiments_of(session, tracker)
    if not existing:
        raise Conflict("the tracker has no prompt to copy its settings from")
    if len(existing) + len(prompts) > MAX_TRACKER_PROMPTS:
        raise Conflict(
            f"the tracker has {len(existing)} prompts and holds at most {MAX_TRACKER_PROMPTS}: "
            f"{len(prompts)} more is too many"
        )
    known = {" ".join(e.prompt.casefold().split()) for e in existing}
    for number, item in enumerate(prompts, start=1):
        if " ".join(item.prompt.casefold().split()) in known:
            raise Conflict(f"prompt {number} is already in the tracker: {item.prompt[:80]!r}")
    settings = _settings_of(existing[0])
    await _admit_set(session, settings, prompts, workspace_id=tracker.workspace_id, runtime=runtime)
    created = await _queue_prompts(
        session, tracker, settings, prompts, actor=actor, runtime=runtime
    )
    tracker.updated_at = utcnow()
    await audit.record_about(
        session,
        Action.TRACKER_PROMPTS_ADDED,
        tracker,
        target_type="tracker",
        actor=actor,
        details={"prompts": len(created)},
    )
    return created


async def get(session: AsyncSession, workspace_id: uuid.UUID, tracker_id: uuid.UUID) -> Tracker:
    tracker = await session.scalar(
        select(Tracker).where(Tracker.id == tracker_id, Tracker.workspace_id == workspace_id)
    )
    if tracker is None:
        raise NotFound(f"no tracker with id {tracker_id}")
    return tracker


async def resolve(session: AsyncSession, workspace_id: uuid.UUID, text: str) -> Tracker:
    """A tracker by id, id prefix (at least 4 characters) or exact name."""
    try:
        return await get(session, workspace_id, uuid.UUID(text))
    except ValueError:
        pass
    query = select(Tracker).where(Tracker.workspace_id == workspace_id)
    found = list(await session.scalars(query.where(Tracker.name == text)))
    if not found and len(text) >= experiment_service.MIN_ID_PREFIX:
        prefix = text.lower().replace("-", "")
        found = [t for t in await session.scalars(query) if t.id.hex.startswith(prefix)]
    if len(found) != 1:
        raise NotFound(
            f"no tracker named {text!r}" if not found else f"{text!r} names several trackers"
        )
    return found[0]


async def experiments_of(session: AsyncSession, tracker: Tracker) -> list[Experiment]:
    return list(
        await session.scalars(
            select(Experiment)
            .where(Experiment.tracker_id == tracker.id)
            .order_by(Experiment.created_at, Experiment.id)
        )
    )


async def list_all(session: AsyncSession, workspace_id: uuid.UUID) -> list[TrackerOut]:
    """The workspace's trackers, newest first, with their prompt counts and topics."""
    trackers = list(
        await session.scalars(
            select(Tracker)
            .where(Tracker.workspace_id == workspace_id)
            .order_by(Tracker.created_at.desc(), Tracker.id.desc())
        )
    )
    counts: dict[uuid.UUID, int] = defaultdict(int)
    topics: dict[uuid.UUID, set[str]] = defaultdict(set)
    if trackers:
        rows = await session.execute(
            select(Experiment.tracker_id, Experiment.topic, func.count())
            .where(Experiment.tracker_id.in_([t.id for t in trackers]))
            .group_by(Experiment.tracker_id, Experiment.topic)
        )
        for tracker_id, topic, count in rows:
            assert tracker_id is not None
            counts[tracker_id] += int(count)
            if topic is not None:
                topics[tracker_id].add(topic)
    return [
        TrackerOut(
            id=t.id,
            name=t.name,
            created_at=t.created_at,
            prompts=counts[t.id],
            topics=sorted(topics[t.id]),
        )
        for t in trackers
    ]


async def delete(session: AsyncSession, tracker: Tracker, *, actor: Actor) -> int:
    """Delete the tracker with its experiments (their runs and answers); refused while
    any of them is running. The number of experiments deleted."""
    experiments = await experiments_of(session, tracker)
    ids = [e.id for e in experiments]
    if ids:
        running = await session.scalar(
            select(func.count(BatchRun.id)).where(
                BatchRun.experiment_id.in_(ids), BatchRun.status.not_in(FINISHED_STATUSES)
            )
        )
        if running:
            raise Conflict("some of the tracker's prompts are still running: wait or cancel them")
    for experiment in experiments:
        await session.delete(experiment)
    await session.flush()
    await audit.record_about(
        session,
        Action.TRACKER_DELETED,
        tracker,
        target_type="tracker",
        actor=actor,
        details={"name": tracker.name, "experiments": len(ids)},
    )
    await session.delete(tracker)
    await session.flush()
    return len(ids)


@dataclass(frozen=True)
class _PromptFigures:
    experiment: Experiment
    run: int | None
    metrics: BatchMetrics | None
    synthetic: bool


async def _latest_complete(
    session: AsyncSession, experiments: Sequence[Experiment]
) -> dict[uuid.UUID, tuple[int, dict[str, Any] | None, list[str]]]:
    """Each experiment's latest complete round: (round, stored combined metrics, providers),
    in one query over the rounds table (no answer is read)."""
    if not experiments:
        return {}
    latest = (
        select(ExperimentRound.experiment_id, func.max(ExperimentRound.round).label("latest"))
        .where(
            ExperimentRound.experiment_id.in_([e.id for e in experiments]),
            ExperimentRound.complete.is_(True),
            ExperimentRound.combined.is_not(None),
        )
        .group_by(ExperimentRound.experiment_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            ExperimentRound.experiment_id,
            ExperimentRound.round,
            ExperimentRound.combined,
            ExperimentRound.combined_providers,
        ).join(
            latest,
            (ExperimentRound.experiment_id == latest.c.experiment_id)
            & (ExperimentRound.round == latest.c.latest),
        )
    )
    return {row[0]: (row[1], row[2], list(row[3] or [])) for row in rows}


def _synthetic(providers: Sequence[str]) -> bool:
    return any(ProviderSpec.parse(p).vendor == "demo" for p in providers)


def _rate(metrics: BatchMetrics, name: str) -> Rate:
    value = getattr(metrics, name)
    assert isinstance(value, Rate)
    return value


def _pool(
    figures: Sequence[_PromptFigures], topic: str | None, brands: Sequence[str]
) -> TrackerFiguresOut:
    with_results = [f.metrics for f in figures if f.metrics is not None]

    def pooled(rates: Sequence[Rate]) -> PooledRateOut:
        return PooledRateOut.of(
            pooled_rate([r.numerator for r in rates], [r.denominator for r in rates])
        )

    rates = {name: pooled([_rate(m, name) for m in with_results]) for name in RATES}
    mentions = {
        brand: pooled([m.mention_rates.get(brand, Rate.of(0, 0)) for m in with_results])
        for brand in brands
    }
    return TrackerFiguresOut(
        topic=topic,
        prompts=len(figures),
        prompts_with_results=len(with_results),
        mention_rates=mentions,
        **rates,
    )


async def detail(session: AsyncSession, tracker: Tracker) -> TrackerDetail:
    """The tracker's figures: per prompt (its latest complete run, as stored), per topic
    and overall (pooled over prompts, intervals over prompts as clusters). When real and
    synthetic prompts' runs are both present, only the real ones are pooled."""
    experiments = await experiments_of(session, tracker)
    latest = await _latest_complete(session, experiments)
    figures: list[_PromptFigures] = []
    for experiment in experiments:
        found = latest.get(experiment.id)
        if found is None:
            figures.append(_PromptFigures(experiment, None, None, False))
            continue
        run, stored, providers = found
        metrics = BatchMetrics.model_validate(stored) if stored else None
        figures.append(_PromptFigures(experiment, run, metrics, _synthetic(providers)))
    real = [f for f in figures if f.metrics is not None and not f.synthetic]
    if real:
        pooled_set = [
            f if not f.synthetic else _PromptFigures(f.experiment, None, None, True)
            for f in figures
        ]
    else:
        pooled_set = figures
    first = experiments[0] if experiments else None
    if any(f.metrics is not None for f in pooled_set):
        synthetic = any(f.synthetic for f in pooled_set if f.metrics is not None)
    else:  # nothing finished yet: what the providers will give
        synthetic = first is not None and _synthetic(first.providers)
    brands: list[str] = []
    target: str | None = None
    if first is not None:
        brand_set = BrandSet.model_validate(first.brands)
        target = brand_set.target.name
        brands = list(brand_set.names)
    by_topic: dict[str | None, list[_PromptFigures]] = defaultdict(list)
    for f in pooled_set:
        by_topic[f.experiment.topic].append(f)
    topics = sorted((t for t in by_topic if t is not None), key=str.casefold)
    groups = [_pool(by_topic[t], t, brands) for t in topics]
    if None in by_topic and topics:
        groups.append(_pool(by_topic[None], None, brands))
    return TrackerDetail(
        id=tracker.id,
        name=tracker.name,
        created_at=tracker.created_at,
        prompts=len(experiments),
        topics=topics,
        target=target,
        providers=list(first.providers) if first is not None else [],
        synthetic=synthetic,
        overall=_pool(pooled_set, None, brands),
        by_topic=groups,
        prompt_results=[
            TrackerPromptOut(
                experiment_id=f.experiment.id,
                prompt=f.experiment.prompt,
                topic=f.experiment.topic,
                status=f.experiment.status,
                run=f.run,
                synthetic=f.synthetic,
                visibility=None if f.metrics is None else f.metrics.visibility,
                top1=None if f.metrics is None else f.metrics.top1,
                top3=None if f.metrics is None else f.metrics.top3,
                citation_rate=None if f.metrics is None else f.metrics.citation_rate,
            )
            for f in figures
        ],
    )


def tracker_out(tracker: Tracker, experiments: Sequence[Experiment]) -> TrackerOut:
    return TrackerOut(
        id=tracker.id,
        name=tracker.name,
        created_at=tracker.created_at,
        prompts=len(experiments),
        topics=sorted({e.topic for e in experiments if e.topic is not None}, key=str.casefold),
    )


async def profile_names(
    session: AsyncSession, workspace_id: uuid.UUID, profile_id: uuid.UUID
) -> tuple[list[str], list[str]]:
    """A brand profile's brand names (target first) and its keywords."""
    profile = await brand_service.get(session, workspace_id, profile_id)
    try:
        brand_set = BrandSet.model_validate(profile.brands)
    except ValueError as error:
        raise AppError(str(error)) from None
    return list(brand_set.names), list(profile.target_keywords or [])


async def candidates(
    session: AsyncSession, workspace_id: uuid.UUID, data: CandidatesIn, *, runtime: Runtime
) -> CandidatesOut:
    """Candidate prompts from a brand profile (its brand, competitors and keywords) and the
    category typed, written by ``data.provider``: nothing is stored or run."""
    try:
        spec = ProviderSpec.parse(data.provider)
    except ValueError as error:
        raise AppError(str(error)) from None
    names, keywords = await profile_names(session, workspace_id, data.brand_profile_id)
    subject = candidate_writer.Subject(brands=names, keywords=keywords, category=data.category)
    return await candidate_writer.generate(
        runtime, workspace_id, spec, subject, data.count, now=utcnow()
    )
