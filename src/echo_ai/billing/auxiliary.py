"""Provider calls made outside an experiment's answers ("auxiliary calls"): candidate
prompts for a tracker, and the sentiment judge of an experiment's answers.

One path, the runner's rules for an answer applied to one call:

1. admitted against the workspace's budgets before it is sent: a model without a price
   while a budget applies is refused (``price_unknown``), a call whose assumed cost (its
   prompt's length in, its whole output limit out, at the price table's prices) would
   take this month's spend past the workspace's budget, or past the experiment's own cap
   when it is made for an experiment, is refused (``budget_exhausted``, HTTP 402, the
   same details as a run gets), and its assumed cost is reserved
   (:func:`echo_ai.metering.ledger.reserve`) so calls in flight cannot together pass a cap;
2. sent with the workspace's stored key for the vendor when it has one, the server's
   otherwise (:meth:`echo_ai.execution.providers.ProviderPool.client_for`);
3. its priced cost (:func:`echo_ai.providers.pricing.answer_cost`) recorded in the month's
   counters (:func:`echo_ai.metering.ledger.record_stored`) as it is released, in a
   transaction of its own: the money was spent whatever becomes of the request.

The cost counts in the workspace's month (and the experiment's, if any) like answers', but
no iterations: an auxiliary call is no answer and uses no plan quota. Its spend line carries
its :class:`Purpose`, so cost reports show it apart from answers (docs/billing.md).
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.billing.budgets import BudgetExhausted, admit_spend
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.metering import ledger
from echo_ai.metering.ledger import Refusal, Reservation, StoredLine
from echo_ai.metering.models import ANSWERS
from echo_ai.metering.units import month_of, to_nano, to_usd
from echo_ai.providers.assumed import assumed_cost
from echo_ai.providers.base import Completion, CompletionRequest
from echo_ai.providers.pricing import answer_cost
from echo_ai.providers.registry import ProviderSpec
from echo_ai.providers.retry import call_with_retries
from echo_ai.providers.synthetic import approximate_tokens
from echo_ai.text import usd


class Purpose(enum.StrEnum):
    """What an auxiliary call is for: its spend lines' ``purpose``."""

    CANDIDATE_PROMPTS = "candidate_prompts"
    SENTIMENT_JUDGE = "sentiment_judge"


PURPOSE_LABELS: dict[str, str] = {
    ANSWERS: "Answers",
    Purpose.CANDIDATE_PROMPTS: "Candidate prompts",
    Purpose.SENTIMENT_JUDGE: "Sentiment judge",
}
"""How each purpose is named in cost reports."""


@dataclass(frozen=True)
class AuxiliaryCall:
    """Who pays for a call, what for, and which model answers it."""

    workspace_id: uuid.UUID
    spec: ProviderSpec
    purpose: Purpose
    experiment_id: uuid.UUID | None = None
    """The experiment it is made for (its own cap applies, its month counts the cost)."""
    experiment_budget_usd: Decimal | None = None


@dataclass(frozen=True)
class Answered:
    completion: Completion
    cost_usd: Decimal | None
    """Priced from the price table; None for a model without a price."""


def assumed_call_cost(spec: ProviderSpec, request: CompletionRequest) -> Decimal | None:
    """The most a call is assumed to cost: its prompt's length in, its whole output limit
    out (None: the model has no price)."""
    if spec.vendor == "demo":
        return Decimal(0)
    prompt = "\n".join(part for part in (request.system_prompt, request.prompt) if part)
    return assumed_cost(
        spec.vendor,
        spec.model,
        approximate_tokens(prompt),
        grounding=request.grounding,
        output_tokens=request.max_output_tokens,
    )


def _refused(refusal: Refusal, requested_nusd: int) -> BudgetExhausted:
    """A reservation refused by a cap, said as :func:`admit_spend` says it (the cap was
    reached between the check and the reservation, by calls in flight)."""
    limit = "monthly_budget_usd" if refusal.scope == "workspace" else "experiment_budget_usd"
    what = "the workspace's budget" if refusal.scope == "workspace" else "the experiment's budget"
    cap, used = to_usd(refusal.cap_nusd), to_usd(refusal.cost_nusd + refusal.reserved_nusd)
    requested = to_usd(requested_nusd)
    return BudgetExhausted(
        f"{what} of {usd(cap)} this month has {usd(max(cap - used, Decimal(0)))} left "
        f"({usd(used)} spent or reserved), and this call is estimated at {usd(requested)}: "
        "raise the budget, or wait for next month",
        details={
            "limit": limit,
            "limit_value": str(cap),
            "usage": str(used),
            "requested": str(requested),
        },
    )


async def _admit(
    session: AsyncSession, call: AuxiliaryCall, assumed: Decimal | None, *, now: datetime
) -> Reservation | None:
    await admit_spend(
        session,
        call.workspace_id,
        estimated_usd=assumed or Decimal(0),
        now=now,
        experiment_id=call.experiment_id,
        experiment_budget_usd=call.experiment_budget_usd,
        unpriced=[str(call.spec)] if assumed is None else (),
    )
    caps = await ledger.caps_of(
        session, call.workspace_id, call.experiment_id, call.experiment_budget_usd
    )
    nusd = to_nano(assumed or Decimal(0))
    if not caps.any or nusd <= 0:
        return None
    got = await ledger.reserve(session, caps, nusd, month=month_of(now))
    if isinstance(got, Refusal):
        raise _refused(got, nusd)
    return got


async def complete(
    runtime: Runtime, call: AuxiliaryCall, request: CompletionRequest, *, now: datetime
) -> Answered:
    """Send ``request`` for ``call`` by the rules above, retried as the runner retries an
    answer (429, 5xx, timeouts: its policy and clock). Budget refusals are
    :class:`BudgetExhausted` / :class:`~echo_ai.billing.budgets.PriceUnknown`; a missing key
    is :class:`~echo_ai.providers.base.ProviderNotConfigured`; a failed call is the
    adapter's :class:`~echo_ai.providers.base.ProviderError` (nothing recorded: vendors do
    not bill failed requests), its reservation released in every case."""
    session_factory = runtime.session_factory
    assumed = assumed_call_cost(call.spec, request)
    async with transaction(session_factory) as session:
        reservation = await _admit(session, call, assumed, now=now)
    try:
        async with transaction(session_factory) as session:
            provider = await runtime.providers.client_for(session, call.workspace_id, call.spec)
        completion, _ = await call_with_retries(
            provider,
            request,
            policy=runtime.runner.retry_policy,
            sleep=runtime.runner.clock.sleep,
        )
    except BaseException:
        if reservation is not None:
            await asyncio.shield(_settle(session_factory, reservation, None, month=month_of(now)))
        raise
    cost = answer_cost(call.spec.vendor, call.spec.model, completion).total_usd
    line = StoredLine(
        workspace_id=call.workspace_id,
        experiment_id=call.experiment_id,
        provider=str(call.spec),
        iterations=0,
        cost_nusd=0 if cost is None else to_nano(cost),
        purpose=call.purpose,
    )
    await asyncio.shield(_settle(session_factory, reservation, line, month=month_of(now)))
    return Answered(completion, cost)


async def _settle(
    session_factory: async_sessionmaker[AsyncSession],
    reservation: Reservation | None,
    line: StoredLine | None,
    *,
    month: str,
) -> None:
    """Record the call's cost (if it was answered) and release its reservation, together."""
    if reservation is None and line is None:
        return
    async with transaction(session_factory) as session:
        if line is not None:
            await ledger.record_stored(session, [line], month=month)
        if reservation is not None:
            await ledger.release(session, [reservation])
