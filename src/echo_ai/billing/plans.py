"""Plans a workspace can be on, and what each allows: one table (:data:`PLANS`).

Stripe moves workspaces between plans when billing is on (:mod:`echo_ai.billing.stripe`);
without it an operator sets a workspace's plan with ``echo-ai workspace-plan``. Every
figure is configuration: settings replace any plan's own
(``ECHO_AI_BILLING__<PLAN>__<FIELD>``, see :class:`echo_ai.config.PlanLimits`), and
docs/billing.md lists the defaults. ``None`` is no limit.

- ``iterations_per_month``: iterations a workspace stores per calendar month (UTC), over
  all its experiments (metered by :mod:`echo_ai.metering`);
- ``max_iterations_per_experiment``: iterations one run of an experiment asks for, over all
  its providers (``iterations x providers``), because that is what a run costs, in calls
  and in storage, whatever way it is split;
- ``max_iterations_in_flight``: iterations of the workspace queued or running at once
  (requested minus stored, over its unfinished batch runs), so that one workspace cannot
  fill the workers' queue;
- ``scheduled_experiments``: experiments with a schedule;
- ``members``: members, pending invitations included;
- ``api_requests_per_minute``: API calls per minute for the whole workspace (never below
  the service's ``ECHO_AI_SERVER__WORKSPACE_REQUESTS_PER_MINUTE``);
- ``providers``: the vendors the plan may ask (``None``: all);
- ``retention_days``: days raw answers are kept.

``self_hosted`` has no limits; the command line's local workspace (and so a self-hosted
operator's own runs) has none either unless ``ECHO_AI_BILLING__LOCAL__...`` sets one.

:mod:`echo_ai.workspaces.quotas` enforces them before anything is stored or sent: 402
``quota_exceeded`` past a figure (a bigger plan lifts it), 403 ``plan_forbids_provider``
for a vendor outside ``providers``; ``api_requests_per_minute`` is the API's rate limit;
``retention_days`` is not enforced by the quotas (it is the retention of raw answers,
shown with the plan). What a workspace has used of them this month
is :func:`echo_ai.workspaces.quotas.usage_of` (``GET /v1/usage``, ``echo-ai usage``).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the plan names are option types of the command line, which starts light
    from echo_ai.config import PlanLimits, Settings


class PlanName(enum.StrEnum):
    FREE = "free"
    TEAM = "team"
    BUSINESS = "business"
    SELF_HOSTED = "self_hosted"


LOCAL = "local"
"""The name the limits of the command line's local workspace go by."""


@dataclass(frozen=True)
class Plan:
    name: str
    """A :class:`PlanName` value, or :data:`LOCAL`."""
    iterations_per_month: int | None
    max_iterations_per_experiment: int | None
    max_iterations_in_flight: int | None
    scheduled_experiments: int | None
    members: int | None
    api_requests_per_minute: int | None
    """``None``: the service's default."""
    providers: frozenset[str] | None
    retention_days: int | None

    @property
    def unlimited(self) -> bool:
        """No quota on runs (the API rate aside)."""
        return (
            self.iterations_per_month is None
            and self.max_iterations_per_experiment is None
            and self.max_iterations_in_flight is None
        )

    def allows_vendor(self, vendor: str) -> bool:
        return self.providers is None or vendor in self.providers


_ALL_VENDORS = None
_FREE_VENDORS = frozenset({"demo", "openai", "anthropic", "perplexity", "gemini"})

PLANS: dict[PlanName, Plan] = {
    PlanName.FREE: Plan(
        PlanName.FREE.value,
        iterations_per_month=5_000,
        max_iterations_per_experiment=2_000,
        max_iterations_in_flight=5_000,
        scheduled_experiments=1,
        members=3,
        api_requests_per_minute=None,
        providers=_FREE_VENDORS,
        retention_days=30,
    ),
    PlanName.TEAM: Plan(
        PlanName.TEAM.value,
        iterations_per_month=100_000,
        max_iterations_per_experiment=20_000,
        max_iterations_in_flight=100_000,
        scheduled_experiments=25,
        members=15,
        api_requests_per_minute=3_000,
        providers=_ALL_VENDORS,
        retention_days=90,
    ),
    PlanName.BUSINESS: Plan(
        PlanName.BUSINESS.value,
        iterations_per_month=1_000_000,
        max_iterations_per_experiment=100_000,
        max_iterations_in_flight=1_000_000,
        scheduled_experiments=250,
        members=100,
        api_requests_per_minute=12_000,
        providers=_ALL_VENDORS,
        retention_days=365,
    ),
    PlanName.SELF_HOSTED: Plan(
        PlanName.SELF_HOSTED.value,
        iterations_per_month=None,
        max_iterations_per_experiment=None,
        max_iterations_in_flight=None,
        scheduled_experiments=None,
        members=None,
        api_requests_per_minute=None,
        providers=_ALL_VENDORS,
        retention_days=None,
    ),
}

_NO_LIMITS = dataclasses.replace(PLANS[PlanName.SELF_HOSTED], name=LOCAL)


def _with(plan: Plan, override: PlanLimits) -> Plan:
    """``plan`` with the figures ``override`` sets."""
    changes: dict[str, object] = {
        field: value
        for field, value in override.model_dump(exclude_unset=True).items()
        if value is not None
    }
    if "providers" in changes:
        changes["providers"] = frozenset(override.providers or ())
    return dataclasses.replace(plan, **changes)  # type: ignore[arg-type]


def plan_in_force(plan: PlanName, settings: Settings) -> Plan:
    """What ``plan`` allows with the settings' figures applied."""
    return _with(PLANS[plan], getattr(settings.billing, plan.value))


def local_plan(settings: Settings) -> Plan:
    """The command line's local workspace: only what ``ECHO_AI_BILLING__LOCAL__...`` sets."""
    return _with(_NO_LIMITS, settings.billing.local)


def api_requests_per_minute(plan: PlanName, settings: Settings) -> int:
    """The workspace API limit of a plan: its own figure, never below the default."""
    default = settings.server.workspace_requests_per_minute
    return max(default, plan_in_force(plan, settings).api_requests_per_minute or default)
