"""Plans a workspace can be on, and what each allows.

Billing (Stripe) will move workspaces between plans and set the real figures; until then
an operator sets a workspace's plan with ``echo-ai workspace-plan``, and may change any
plan's experiment limits with settings (``ECHO_AI_BILLING__<PLAN>__...``, see
:class:`echo_ai.config.BillingSettings`). A plan without its own API rate uses the
service's setting (``ECHO_AI_SERVER__WORKSPACE_REQUESTS_PER_MINUTE``).

Experiment limits (enforced by :mod:`echo_ai.workspaces.quotas` before anything is stored):

- ``max_iterations_per_experiment``: iterations one run of an experiment asks for, over
  all its providers (``iterations x providers``), because that is what a run costs, in
  calls and in storage, whatever way it is split;
- ``max_iterations_in_flight``: iterations of the workspace queued or running at once
  (requested minus stored, over its unfinished batch runs), so that one workspace cannot
  fill the workers' queue.

The command line's local workspace (and so a self-hosted operator's own runs) has no
limit unless ``ECHO_AI_BILLING__LOCAL__...`` sets one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the plan names are option types of the command line, which starts light
    from echo_ai.config import PlanLimits, Settings


class PlanName(enum.StrEnum):
    FREE = "free"
    TEAM = "team"
    BUSINESS = "business"


@dataclass(frozen=True)
class Plan:
    name: PlanName
    api_requests_per_minute: int | None
    """API calls per minute for the whole workspace (None: the service's default)."""
    max_iterations_per_experiment: int
    """Iterations one run of an experiment may ask for: iterations x providers."""
    max_iterations_in_flight: int
    """Iterations the workspace may have queued or running at once."""


PLANS: dict[PlanName, Plan] = {
    PlanName.FREE: Plan(
        PlanName.FREE,
        api_requests_per_minute=None,
        max_iterations_per_experiment=10_000,
        max_iterations_in_flight=20_000,
    ),
    PlanName.TEAM: Plan(
        PlanName.TEAM,
        api_requests_per_minute=3_000,
        max_iterations_per_experiment=50_000,
        max_iterations_in_flight=200_000,
    ),
    PlanName.BUSINESS: Plan(
        PlanName.BUSINESS,
        api_requests_per_minute=12_000,
        max_iterations_per_experiment=100_000,
        max_iterations_in_flight=1_000_000,
    ),
}


def api_requests_per_minute(plan: PlanName, settings: Settings) -> int:
    """The workspace API limit of a plan: its own figure, never below the default."""
    default = settings.server.workspace_requests_per_minute
    return max(default, PLANS[plan].api_requests_per_minute or default)


@dataclass(frozen=True)
class ExperimentLimits:
    """The experiment limits in force for a workspace; None is no limit."""

    plan: str
    """The plan they come from (``local`` for the command line's workspace)."""
    max_iterations_per_experiment: int | None
    max_iterations_in_flight: int | None

    @property
    def unlimited(self) -> bool:
        return self.max_iterations_per_experiment is None and self.max_iterations_in_flight is None


def experiment_limits(plan: PlanName, settings: Settings) -> ExperimentLimits:
    """A plan's experiment limits: the settings' figures where set, else the plan's."""
    override: PlanLimits = getattr(settings.billing, plan.value)
    own = PLANS[plan]
    return ExperimentLimits(
        plan=plan.value,
        max_iterations_per_experiment=(
            override.max_iterations_per_experiment or own.max_iterations_per_experiment
        ),
        max_iterations_in_flight=override.max_iterations_in_flight or own.max_iterations_in_flight,
    )


def local_limits(settings: Settings) -> ExperimentLimits:
    """The command line's local workspace: only what the settings set."""
    local = settings.billing.local
    return ExperimentLimits(
        plan="local",
        max_iterations_per_experiment=local.max_iterations_per_experiment,
        max_iterations_in_flight=local.max_iterations_in_flight,
    )
