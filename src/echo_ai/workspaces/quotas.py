"""What a workspace's plan lets it do: checked before anything is stored or sent.

A new experiment, a re-run and a scheduled run ask :func:`admit_run` first; giving an
experiment a schedule asks :func:`admit_schedule`; an invitation and its acceptance ask
:func:`admit_member`. The figures are the plan's (:mod:`echo_ai.billing.plans`, changed by
settings). A refusal is :class:`QuotaExceeded` (HTTP 402 ``quota_exceeded``: a bigger plan
lifts it) or :class:`PlanForbidsProvider` (HTTP 403 ``plan_forbids_provider``); its
details name the ``limit``, the ``plan``, the ``limit_value``, the ``usage`` measured
against it and what the use case asks for (``requested``).

:func:`admit_run` checks, in this order: the vendors (``providers``), the run's size
(``max_iterations_per_experiment``: iterations x providers), the month
(``iterations_per_month``: stored this month, plus in flight, plus the run) and what is in
flight (``max_iterations_in_flight``).

The counts and the row stored after them must not race another request doing the same:
the workspace's row is locked first (a no-op UPDATE: on SQLite only a write takes the
write lock at that point), so two requests at once are admitted one after the other, the
second seeing the first's rows.

:func:`usage_of` is what the usage API, command and page show: the month's counters
(:mod:`echo_ai.billing.usage`) with the plan's limits and what is left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.billing import usage as metering_usage
from echo_ai.billing.plans import Plan, PlanName, local_plan, plan_in_force
from echo_ai.config import Settings
from echo_ai.errors import AppError
from echo_ai.metering.units import UsdText, month_of
from echo_ai.providers.registry import ProviderSpec
from echo_ai.workspaces.local import LOCAL_WORKSPACE_ID
from echo_ai.workspaces.models import Invitation, Membership, Workspace


class QuotaExceeded(AppError):
    """A use case the workspace's plan does not allow now; ``details`` say which limit."""

    status_code = 402
    code = "quota_exceeded"

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


class PlanForbidsProvider(AppError):
    """A vendor the workspace's plan does not include."""

    status_code = 403
    code = "plan_forbids_provider"

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


async def limits_of(session: AsyncSession, workspace_id: uuid.UUID, settings: Settings) -> Plan:
    """The plan in force for the workspace, with the settings' figures."""
    if workspace_id == LOCAL_WORKSPACE_ID:
        return local_plan(settings)
    plan = await session.scalar(select(Workspace.plan).where(Workspace.id == workspace_id))
    return plan_in_force(plan or PlanName.FREE, settings)


async def _lock_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(updated_at=Workspace.updated_at)
        .execution_options(synchronize_session=False)
    )


def _refuse(
    limits: Plan, limit: str, value: int, usage: int, requested: int, message: str
) -> QuotaExceeded:
    return QuotaExceeded(
        message,
        details={
            "limit": limit,
            "plan": limits.name,
            "limit_value": value,
            "usage": usage,
            "requested": requested,
        },
    )


def check_vendors(limits: Plan, providers: Iterable[str]) -> None:
    """Refuse (:class:`PlanForbidsProvider`) a provider whose vendor the plan leaves out."""
    if limits.providers is None:
        return
    vendors = [ProviderSpec.parse(text).vendor for text in providers]
    forbidden = sorted({vendor for vendor in vendors if not limits.allows_vendor(vendor)})
    if forbidden:
        allowed = ", ".join(sorted(limits.providers)) or "none"
        raise PlanForbidsProvider(
            f"the {limits.name} plan does not include {', '.join(forbidden)} "
            f"(it includes: {allowed}): choose another provider, or a bigger plan",
            details={
                "limit": "providers",
                "plan": limits.name,
                "limit_value": sorted(limits.providers),
                "usage": vendors,
                "requested": forbidden,
            },
        )


async def admit_run(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    iterations: int,
    settings: Settings,
    now: datetime,
    providers: Iterable[str] = (),
    counted_in_flight: int = 0,
    experiments: int = 1,
) -> None:
    """Refuse, before anything is stored or sent, a run of ``iterations`` (iterations x
    providers) of ``providers`` (``vendor[:model]``) that the workspace's plan does not
    allow; otherwise return with the workspace's row locked until the caller's
    transaction ends (store the run in it). ``counted_in_flight``: iterations of this run
    already queued (a resume's reopened batches), taken off what is in flight.
    ``experiments``: the run is that many experiments of equal size started together (a
    tracker's prompts), ``iterations`` their total."""
    limits = await limits_of(session, workspace_id, settings)
    check_vendors(limits, providers)
    per_run = limits.max_iterations_per_experiment
    each = iterations // max(experiments, 1)
    if per_run is not None and each > per_run:
        raise _refuse(
            limits,
            "max_iterations_per_experiment",
            per_run,
            each,
            each,
            f"the {limits.name} plan allows at most {per_run:,} iterations per experiment "
            f"(iterations x providers); this one asks for {each:,}",
        )
    monthly = limits.iterations_per_month
    in_flight_limit = limits.max_iterations_in_flight
    if monthly is None and in_flight_limit is None:
        return
    await _lock_workspace(session, workspace_id)
    usage = await metering_usage.month_usage(session, workspace_id, month_of(now))
    in_flight = max(usage.in_flight - counted_in_flight, 0)
    if monthly is not None:
        stored = usage.counters.iterations
        used = stored + in_flight
        if used + iterations > monthly:
            raise _refuse(
                limits,
                "iterations_per_month",
                monthly,
                used,
                iterations,
                f"the {limits.name} plan allows {monthly:,} iterations per month; "
                f"{stored:,} are stored this month and {in_flight:,} are queued or running, "
                f"so {max(monthly - used, 0):,} are left and this run asks for "
                f"{iterations:,}: wait for next month, or move to a bigger plan",
            )
    if in_flight_limit is not None and in_flight + iterations > in_flight_limit:
        raise _refuse(
            limits,
            "max_iterations_in_flight",
            in_flight_limit,
            in_flight,
            iterations,
            f"the {limits.name} plan allows at most {in_flight_limit:,} iterations queued or "
            f"running at once; {in_flight:,} are, and this run asks for {iterations:,}: wait "
            "for running experiments to finish (or cancel one)",
        )


async def admit_schedule(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    settings: Settings,
    experiment_id: uuid.UUID | None = None,
    count: int = 1,
) -> None:
    """Refuse a new schedule past the plan's ``scheduled_experiments``; ``experiment_id``
    is the experiment being given one (replacing its own schedule adds none); ``count``:
    how many experiments are given one at once (a tracker's prompts)."""
    limits = await limits_of(session, workspace_id, settings)
    limit = limits.scheduled_experiments
    if limit is None:
        return
    await _lock_workspace(session, workspace_id)
    usage = await metering_usage.scheduled_experiments(session, workspace_id, besides=experiment_id)
    if usage + count > limit:
        raise _refuse(
            limits,
            "scheduled_experiments",
            limit,
            usage,
            count,
            f"the {limits.name} plan allows {limit:,} experiment(s) with a schedule and the "
            f"workspace has {usage:,}: remove a schedule first, or move to a bigger plan",
        )


async def members_count(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime
) -> tuple[int, int]:
    """The workspace's members and its pending (unaccepted, unrevoked, unexpired)
    invitations."""
    members = await session.scalar(
        select(func.count()).where(Membership.workspace_id == workspace_id)
    )
    pending = await session.scalar(
        select(func.count()).where(
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
    )
    return int(members or 0), int(pending or 0)


async def admit_member(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    settings: Settings,
    now: datetime,
    inviting: str | None = None,
    accepting: bool = False,
) -> None:
    """Refuse a member past the plan's ``members``. An invitation (``inviting`` the
    address) counts members plus pending invitations (a pending one of the same address,
    which it replaces, aside); an acceptance counts members only (its invitation held a
    seat already, but the plan may have shrunk since)."""
    limits = await limits_of(session, workspace_id, settings)
    limit = limits.members
    if limit is None:
        return
    await _lock_workspace(session, workspace_id)
    members, pending = await members_count(session, workspace_id, now=now)
    usage = members
    if not accepting:
        replaced = 0
        if inviting is not None:
            replaced = int(
                await session.scalar(
                    select(func.count()).where(
                        Invitation.workspace_id == workspace_id,
                        Invitation.email == inviting,
                        Invitation.accepted_at.is_(None),
                        Invitation.revoked_at.is_(None),
                        Invitation.expires_at > now,
                    )
                )
                or 0
            )
        usage = members + pending - replaced
    if usage + 1 > limit:
        raise _refuse(
            limits,
            "members",
            limit,
            usage,
            1,
            f"the {limits.name} plan allows {limit:,} members (pending invitations "
            f"included) and the workspace has {usage:,}: revoke an invitation or remove a "
            "member first, or move to a bigger plan",
        )


@dataclass(frozen=True)
class Quota:
    """One limit of the plan with what the workspace uses of it."""

    name: str
    limit: int | None
    """``None``: no limit."""
    used: int

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


@dataclass(frozen=True)
class Usage:
    """A workspace's month: what it stored, has in flight and spent, against its plan."""

    workspace_id: uuid.UUID
    plan: Plan
    metered: metering_usage.Metered
    members: int
    pending_invitations: int

    @property
    def quotas(self) -> list[Quota]:
        plan, metered = self.plan, self.metered
        return [
            Quota(
                "iterations_per_month",
                plan.iterations_per_month,
                metered.iterations + metered.in_flight,
            ),
            Quota("max_iterations_in_flight", plan.max_iterations_in_flight, metered.in_flight),
            Quota(
                "scheduled_experiments",
                plan.scheduled_experiments,
                metered.scheduled_experiments,
            ),
            Quota("members", plan.members, self.members + self.pending_invitations),
        ]


async def usage_of(
    session: AsyncSession, workspace_id: uuid.UUID, *, now: datetime, settings: Settings
) -> Usage:
    """This month's usage of the workspace with its plan's limits (see :class:`Usage`)."""
    plan = await limits_of(session, workspace_id, settings)
    members, pending = await members_count(session, workspace_id, now=now)
    return Usage(
        workspace_id=workspace_id,
        plan=plan,
        metered=await metering_usage.metered(session, workspace_id, now=now),
        members=members,
        pending_invitations=pending,
    )


class QuotaOut(BaseModel):
    """One limit of the plan this month."""

    name: str
    """``iterations_per_month``, ``max_iterations_in_flight``, ``scheduled_experiments``
    or ``members``."""
    limit: int | None
    """The plan's figure (``null``: no limit)."""
    used: int
    """What counts against it now: for ``iterations_per_month`` the iterations stored this
    month plus those queued or running; for ``members`` members plus pending
    invitations."""
    left: int | None
    """``limit - used``, never below 0 (``null``: no limit)."""


class UsageOut(BaseModel):
    """A workspace's use of its plan this calendar month (UTC)."""

    workspace_id: uuid.UUID
    month: str
    """``YYYY-MM``."""
    plan: str
    """The plan in force (``local`` for the command line's own workspace)."""
    iterations_stored: int
    """Iterations stored this month (a counter moved as chunks commit, reconciled daily
    against the iterations table)."""
    iterations_in_flight: int
    """Iterations queued or running, not stored yet."""
    cost_usd: UsdText
    """What the iterations stored this month cost (prices with fees), as a decimal string."""
    reserved_usd: UsdText
    """Cost reserved by calls in flight."""
    max_iterations_per_experiment: int | None
    """Iterations one run may ask for (iterations x providers; ``null``: no limit)."""
    providers: list[str] | None
    """Vendors the plan includes (``null``: all)."""
    members: int
    pending_invitations: int
    scheduled_experiments: int
    quotas: list[QuotaOut]
    """Each limit with its usage and what is left."""

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        metered = usage.metered
        return cls(
            workspace_id=usage.workspace_id,
            month=metered.month,
            plan=usage.plan.name,
            iterations_stored=metered.iterations,
            iterations_in_flight=metered.in_flight,
            cost_usd=metered.cost_usd,
            reserved_usd=metered.reserved_usd,
            max_iterations_per_experiment=usage.plan.max_iterations_per_experiment,
            providers=None if usage.plan.providers is None else sorted(usage.plan.providers),
            members=usage.members,
            pending_invitations=usage.pending_invitations,
            scheduled_experiments=metered.scheduled_experiments,
            quotas=[
                QuotaOut(name=quota.name, limit=quota.limit, used=quota.used, left=quota.left)
                for quota in usage.quotas
            ],
        )
