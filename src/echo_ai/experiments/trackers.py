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

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.brands import BrandSet
from echo_ai.analysis.clusters import pooled_rate
from echo_ai.analysis.metrics import Rate
from echo_ai.brands import service as brand_service
from echo_ai.db import utcnow
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.execution.runtime import Runtime
from echo_ai.experiments import candidates as candidate_writer
from echo_ai.experiments import history
from echo_ai.experiments import service as experiment_service
from echo_ai.experiments.history import RunFigure
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
    TrackerPointOut,
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
    ExperimentStatus,
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
class _Prompt:
    """What the figures show of a prompt's experiment (its columns, not the row)."""

    id: uuid.UUID
    prompt: str
    topic: str | None
    status: ExperimentStatus


@dataclass(frozen=True)
class _Stored:
    """A prompt's latest complete run: the members of its stored combined metrics the
    tracker shows, read as such from the database (never the whole document)."""

    run: int
    rates: dict[str, Rate]
    """Each of :data:`RATES`."""
    mention_rates: dict[str, Rate]
    synthetic: bool


@dataclass(frozen=True)
class _PromptFigures:
    prompt: _Prompt
    stored: _Stored | None
    """None: no complete run yet (or a synthetic one left out of a real pool)."""


async def _prompts(
    session: AsyncSession, tracker: Tracker
) -> tuple[list[_Prompt], dict[str, Any] | None, list[str]]:
    """The tracker's prompts in order, with the brands and providers of the first (all are
    asked alike): one query, reading those two JSON columns of the first row only."""
    first = (
        select(Experiment.id)
        .where(Experiment.tracker_id == tracker.id)
        .order_by(Experiment.created_at, Experiment.id)
        .limit(1)
        .scalar_subquery()
    )
    is_first = Experiment.id == first
    rows = await session.execute(
        select(
            Experiment.id,
            Experiment.prompt,
            Experiment.topic,
            Experiment.status,
            case((is_first, Experiment.brands)),
            case((is_first, Experiment.providers)),
        )
        .where(Experiment.tracker_id == tracker.id)
        .order_by(Experiment.created_at, Experiment.id)
    )
    prompts: list[_Prompt] = []
    brands: dict[str, Any] | None = None
    providers: list[str] = []
    for experiment_id, prompt, topic, status, first_brands, first_providers in rows:
        prompts.append(_Prompt(experiment_id, prompt, topic, status))
        if first_brands is not None:
            brands, providers = first_brands, list(first_providers or [])
    return prompts, brands, providers


async def _latest_complete(
    session: AsyncSession, prompts: Sequence[_Prompt]
) -> dict[uuid.UUID, _Stored]:
    """Each prompt's latest complete round, in one query over the rounds table selecting
    only the stored members shown (no answer, no whole metrics document is read)."""
    if not prompts:
        return {}
    latest = (
        select(ExperimentRound.experiment_id, func.max(ExperimentRound.round).label("latest"))
        .where(
            ExperimentRound.experiment_id.in_([p.id for p in prompts]),
            ExperimentRound.complete.is_(True),
            ExperimentRound.combined.is_not(None),
        )
        .group_by(ExperimentRound.experiment_id)
        .subquery()
    )
    members = [ExperimentRound.combined[name] for name in (*RATES, "mention_rates")]
    rows = await session.execute(
        select(
            ExperimentRound.experiment_id,
            ExperimentRound.round,
            ExperimentRound.combined_providers,
            *members,
        ).join(
            latest,
            (ExperimentRound.experiment_id == latest.c.experiment_id)
            & (ExperimentRound.round == latest.c.latest),
        )
    )
    found: dict[uuid.UUID, _Stored] = {}
    for experiment_id, run, providers, *values in rows:
        *rates, mentions = values
        found[experiment_id] = _Stored(
            run=run,
            rates={
                name: Rate.model_validate(rate) for name, rate in zip(RATES, rates, strict=True)
            },
            mention_rates={brand: Rate.model_validate(r) for brand, r in (mentions or {}).items()},
            synthetic=_synthetic(providers or []),
        )
    return found


def _synthetic(providers: Sequence[str]) -> bool:
    return any(ProviderSpec.parse(p).vendor == "demo" for p in providers)


def _pooled(rates: Sequence[Rate]) -> PooledRateOut:
    return PooledRateOut.of(
        pooled_rate([r.numerator for r in rates], [r.denominator for r in rates])
    )


def _pool(
    figures: Sequence[_PromptFigures], topic: str | None, brands: Sequence[str]
) -> TrackerFiguresOut:
    with_results = [f.stored for f in figures if f.stored is not None]
    rates = {name: _pooled([s.rates[name] for s in with_results]) for name in RATES}
    mentions = {
        brand: _pooled([s.mention_rates.get(brand, Rate.of(0, 0)) for s in with_results])
        for brand in brands
    }
    return TrackerFiguresOut(
        topic=topic,
        prompts=len(figures),
        prompts_with_results=len(with_results),
        mention_rates=mentions,
        **rates,
    )


async def _over_time(
    session: AsyncSession, prompts: Sequence[_Prompt], *, real_only: bool
) -> list[TrackerPointOut]:
    """Overall visibility going back run by run: each prompt's latest complete run pooled
    (the ``overall`` figure), then each prompt's run before, and so on. Prompts are lined
    up by how many complete runs back, not by run number, so that prompts added later
    (whose first run is another's fifth) sit beside the runs made at the same time as
    theirs; prompts with fewer runs drop out of the older points."""
    recent = await history.recent_runs(session, [p.id for p in prompts])
    back: dict[int, list[RunFigure]] = defaultdict(list)
    for figures in recent.values():
        complete = [f for f in figures if f.complete and f.rate is not None and f.rate.denominator]
        if real_only:
            complete = [f for f in complete if not f.synthetic]
        for steps, figure in enumerate(reversed(complete)):
            back[steps].append(figure)
    points: list[TrackerPointOut] = []
    for steps in sorted(back, reverse=True):
        figures = back[steps]
        started = [f.started for f in figures if f.started is not None]
        if not started:
            continue
        points.append(
            TrackerPointOut(
                runs_back=steps,
                started_at=max(started),
                prompts=len(figures),
                synthetic=any(f.synthetic for f in figures),
                visibility=_pooled([f.rate for f in figures if f.rate is not None]),
            )
        )
    return points


async def detail(session: AsyncSession, tracker: Tracker) -> TrackerDetail:
    """The tracker's figures: per prompt (its latest complete run, as stored), per topic
    and overall (pooled over prompts, intervals over prompts as clusters), and overall
    visibility over the prompts' recent runs. When real and synthetic prompts' runs are
    both present, only the real ones are pooled.

    A constant number of queries whatever the number of prompts, each selecting only the
    columns and stored members shown."""
    prompts, stored_brands, providers = await _prompts(session, tracker)
    latest = await _latest_complete(session, prompts)
    figures = [_PromptFigures(p, latest.get(p.id)) for p in prompts]
    real = any(f.stored is not None and not f.stored.synthetic for f in figures)
    pooled_set = (
        [
            f if f.stored is None or not f.stored.synthetic else _PromptFigures(f.prompt, None)
            for f in figures
        ]
        if real
        else figures
    )
    brands: list[str] = []
    target: str | None = None
    if stored_brands is not None:
        brand_set = BrandSet.model_validate(stored_brands)
        target = brand_set.target.name
        brands = list(brand_set.names)
    if any(f.stored is not None for f in pooled_set):
        synthetic = any(f.stored.synthetic for f in pooled_set if f.stored is not None)
    else:  # nothing finished yet: what the providers will give
        synthetic = _synthetic(providers)
    by_topic: dict[str | None, list[_PromptFigures]] = defaultdict(list)
    for f in pooled_set:
        by_topic[f.prompt.topic].append(f)
    topics = sorted((t for t in by_topic if t is not None), key=str.casefold)
    groups = [_pool(by_topic[t], t, brands) for t in topics]
    if None in by_topic and topics:
        groups.append(_pool(by_topic[None], None, brands))
    return TrackerDetail(
        id=tracker.id,
        name=tracker.name,
        created_at=tracker.created_at,
        prompts=len(prompts),
        topics=topics,
        target=target,
        providers=providers,
        synthetic=synthetic,
        overall=_pool(pooled_set, None, brands),
        by_topic=groups,
        prompt_results=[
            TrackerPromptOut(
                experiment_id=f.prompt.id,
                prompt=f.prompt.prompt,
                topic=f.prompt.topic,
                status=f.prompt.status,
                run=None if f.stored is None else f.stored.run,
                synthetic=f.stored is not None and f.stored.synthetic,
                **{name: None if f.stored is None else f.stored.rates[name] for name in RATES},
            )
            for f in figures
        ],
        over_time=await _over_time(session, prompts, real_only=real),
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
    """Candidate prompts from a brand profile (its brand, competitors and keywords) or brands
    typed in place, and the category typed, written by ``data.provider``: nothing is
    stored or run."""
    try:
        spec = ProviderSpec.parse(data.provider)
    except ValueError as error:
        raise AppError(str(error)) from None
    if data.brand_profile_id is not None:
        names, keywords = await profile_names(session, workspace_id, data.brand_profile_id)
    else:
        assert data.brands is not None  # one of the two, as CandidatesIn checks
        names, keywords = list(data.brands.names), []
    subject = candidate_writer.Subject(brands=names, keywords=keywords, category=data.category)
    return await candidate_writer.generate(
        runtime, workspace_id, spec, subject, data.count, now=utcnow()
    )
