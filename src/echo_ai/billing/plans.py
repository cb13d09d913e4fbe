"""Plans a workspace can be on, and what each allows.

Billing (Stripe) will move workspaces between plans; until then an operator sets a
workspace's plan with ``echo-ai workspace-plan``. A plan without its own figure uses the
service's setting (``ECHO_AI_SERVER__WORKSPACE_REQUESTS_PER_MINUTE``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the plan names are option types of the command line, which starts light
    from echo_ai.config import Settings


class PlanName(enum.StrEnum):
    FREE = "free"
    TEAM = "team"
    BUSINESS = "business"


@dataclass(frozen=True)
class Plan:
    name: PlanName
    api_requests_per_minute: int | None
    """API calls per minute for the whole workspace (None: the service's default)."""


PLANS: dict[PlanName, Plan] = {
    PlanName.FREE: Plan(PlanName.FREE, api_requests_per_minute=None),
    PlanName.TEAM: Plan(PlanName.TEAM, api_requests_per_minute=3_000),
    PlanName.BUSINESS: Plan(PlanName.BUSINESS, api_requests_per_minute=12_000),
}


def api_requests_per_minute(plan: PlanName, settings: Settings) -> int:
    """The workspace API limit of a plan: its own figure, never below the default."""
    default = settings.server.workspace_requests_per_minute
    return max(default, PLANS[plan].api_requests_per_minute or default)
