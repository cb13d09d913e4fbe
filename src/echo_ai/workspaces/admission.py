"""Whether a workspace may start a run now: the one admission check of a new experiment, a
re-run, a resume and a scheduled run, before anything is stored or sent.

:func:`admit` checks, in this order, the plan (:func:`echo_ai.workspaces.quotas.admit_run`:
the vendors it includes, the run's size, the month, what is in flight), then the run's
estimated cost (:func:`echo_ai.billing.estimate.estimate_with_history`) against the
workspace's budget and the experiment's own cap (:func:`echo_ai.billing.budgets.admit_spend`,
which also refuses a model without a price while a budget applies). It returns the
estimate it admitted the run with, and leaves the workspace's row locked until the
caller's transaction ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing import budgets
from echo_ai.billing.estimate import Estimate, estimate_with_history
from echo_ai.config import Settings
from echo_ai.providers.registry import ProviderSpec
from echo_ai.workspaces import quotas


async def admit(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    prompt: str,
    providers: Sequence[ProviderSpec],
    iterations: int,
    grounding: bool,
    settings: Settings,
    now: datetime,
    experiment_id: uuid.UUID | None = None,
    experiment_budget_usd: Decimal | None = None,
    counted_in_flight: int = 0,
    experiments: int = 1,
) -> Estimate:
    """Refuse a run of ``iterations`` answers from each of ``providers`` the workspace may
    not start now: a vendor its plan leaves out (403 ``plan_forbids_provider``), a quota
    it would exceed (402 ``quota_exceeded``), an estimated cost the budget left this month
    or the experiment's own cap (``experiment_budget_usd``; its spend so far counts given
    ``experiment_id``) cannot pay for (402 ``budget_exhausted``), or a model without a
    price while one of those budgets applies (402 ``price_unknown``). Otherwise the
    estimate. ``counted_in_flight``: iterations of this run already counted as queued
    (a resume's reopened batches), not counted twice. ``experiments``: that many
    experiments of this size (a tracker's prompts, ``prompt`` their longest) admitted
    together, so a set is refused whole before any of it is stored; the estimate is of one,
    the budget checked against all of them."""
    await quotas.admit_run(
        session,
        workspace_id,
        iterations=iterations * len(providers) * experiments,
        experiments=experiments,
        settings=settings,
        now=now,
        providers=[str(spec) for spec in providers],
        counted_in_flight=counted_in_flight,
    )
    estimated = await estimate_with_history(
        session, prompt, providers, iterations, grounding=grounding, workspace_id=workspace_id
    )
    await budgets.admit_spend(
        session,
        workspace_id,
        estimated_usd=estimated.known_usd * experiments,
        now=now,
        experiment_id=experiment_id,
        experiment_budget_usd=experiment_budget_usd,
        unpriced=estimated.unpriced,
    )
    return estimated
