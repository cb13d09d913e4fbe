"""Who else gets recommended: the untracked names of a run's answers, and adding one of
them as a competitor (then every stored answer is scored again; no provider is called).

The names are found in each answer when it is scored (:mod:`echo_ai.analysis.discovery`)
and counted with each batch's metrics and each run's pooled metrics, so reading them here
is reading stored metrics: no answer is scanned, whatever the number of answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.analysis.brands import MAX_ALIASES, BrandSet
from echo_ai.analysis.discovery import candidate_key
from echo_ai.analysis.metrics import BatchMetrics, Combination, Discovered, Rate
from echo_ai.errors import AppError, Conflict, NotFound
from echo_ai.experiments import service as experiments
from echo_ai.privacy.audit import Actor
from echo_ai.runs import service as run_service
from echo_ai.runs.models import BatchRun, Experiment

MIN_ANSWERS = 2
"""A name is offered once it recurs: named in at least this many answers of the run."""


@dataclass(frozen=True, slots=True)
class DiscoveredRow:
    """One untracked name: its rate over the pooled answers and per provider."""

    name: str
    key: str
    spellings: tuple[str, ...]
    pooled: Rate
    per_provider: dict[str, Rate | None]
    """``vendor:model`` to its rate there; None when that provider's answers name it too
    rarely to be kept among its most frequent names."""


@dataclass(frozen=True, slots=True)
class DiscoveredReport:
    experiment_id: uuid.UUID
    run: int
    synthetic: bool
    providers: list[str]
    answers: int
    """Complete answers examined (the denominator of the pooled rates)."""
    examined: bool
    """False when the run's answers were scored before names were looked for: a re-score
    finds them."""
    distinct: int
    rows: list[DiscoveredRow]


async def discovered(
    session: AsyncSession, experiment: Experiment, *, run: int | None = None
) -> DiscoveredReport:
    """The untracked names of run ``run`` (default: the latest) named in at least
    :data:`MIN_ANSWERS` answers, most frequent first. Real providers are reported when
    any ran, else the synthetic (demo) ones: the two are never pooled."""
    round_ = experiment.runs if run is None else run
    if round_ < 1 or round_ > experiment.runs:
        raise NotFound(f"run {round_} of this experiment does not exist")
    stored = await run_service.stored_round(session, experiment.id, round_)
    combinations = [Combination.model_validate(c) for c in (stored and stored.combinations) or []]
    first = combinations[0] if combinations else None
    batches = (
        await session.execute(
            select(BatchRun.provider, BatchRun.model, BatchRun.synthetic, BatchRun.metrics).where(
                BatchRun.experiment_id == experiment.id, BatchRun.round == round_
            )
        )
    ).all()
    if first is None or first.pooled is None:
        synthetic = bool(batches) and all(batch.synthetic for batch in batches)
        return DiscoveredReport(experiment.id, round_, synthetic, [], 0, False, 0, [])
    per_provider: dict[str, Discovered | None] = {}
    for batch in batches:
        label = f"{batch.provider}:{batch.model}"
        if label in first.providers and batch.metrics is not None:
            per_provider[label] = BatchMetrics.model_validate(batch.metrics).discovered
    pooled = first.pooled.discovered
    if pooled is None:
        return DiscoveredReport(
            experiment.id, round_, first.synthetic, first.providers, 0, False, 0, []
        )
    rows = [
        DiscoveredRow(
            name=item.name,
            key=item.key,
            spellings=tuple(item.spellings),
            pooled=item.mentions,
            per_provider={
                provider: _rate_in(found, item.key) for provider, found in per_provider.items()
            },
        )
        for item in pooled.names
        if item.mentions.numerator >= MIN_ANSWERS
    ]
    return DiscoveredReport(
        experiment_id=experiment.id,
        run=round_,
        synthetic=first.synthetic,
        providers=first.providers,
        answers=pooled.answers,
        examined=True,
        distinct=pooled.distinct,
        rows=rows,
    )


def _rate_in(found: Discovered | None, key: str) -> Rate | None:
    if found is None:
        return None
    for item in found.names:
        if item.key == key:
            return item.mentions
    if found.distinct <= len(found.names):
        return Rate.of(0, found.answers)  # every name of the batch is kept: not named there
    return None


async def add_competitor(
    session: AsyncSession,
    experiment: Experiment,
    *,
    name: str,
    aliases: list[str] | None = None,
    actor: Actor,
) -> Experiment:
    """Track ``name`` as a competitor and score every stored answer again.

    Without ``aliases``, the other spellings found of a discovered name become its aliases.
    A name already tracked (as a name or an alias) is a conflict; the re-score's own
    refusals (a running experiment, redacted answers) stand.
    """
    brands = BrandSet.model_validate(experiment.brands)
    key = candidate_key(name)
    for brand in brands.all:
        if key in {candidate_key(term.text) for term in brand.terms}:
            raise Conflict(f"{name!r} is already tracked (as {brand.name!r})")
    if aliases is None:
        aliases = await _spellings(session, experiment, key, name)
    data = brands.model_dump(mode="json")
    data["competitors"].append({"name": name, "aliases": aliases[:MAX_ALIASES]})
    try:
        updated = BrandSet.model_validate(data)
    except ValidationError as error:
        reason = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise AppError(f"{name!r} cannot be added as a competitor: {reason}") from None
    return await experiments.rescore(session, experiment, actor=actor, brands=updated)


async def _spellings(
    session: AsyncSession, experiment: Experiment, key: str, name: str
) -> list[str]:
    """Other spellings of the name among the latest run's discovered names."""
    if experiment.runs < 1:
        return []
    report = await discovered(session, experiment)
    for row in report.rows:
        if row.key == key:
            folded = name.casefold()
            return [s for s in dict.fromkeys(row.spellings) if s.casefold() != folded]
    return []
