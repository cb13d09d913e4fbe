"""Import every model so the metadata is complete (Alembic, test set-up)."""

from echo_ai.api_keys.models import ApiKey
from echo_ai.auth.models import RefreshToken, User
from echo_ai.brands.models import BrandProfile
from echo_ai.db import Base
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, Experiment, ExperimentRound, Iteration
from echo_ai.workspaces.models import Invitation, Membership, Workspace

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "BatchRun",
    "BrandProfile",
    "Experiment",
    "ExperimentRound",
    "Invitation",
    "Iteration",
    "Membership",
    "RefreshToken",
    "User",
    "Workspace",
]
