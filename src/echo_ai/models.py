"""Import every model so the metadata is complete (Alembic, test set-up)."""

from echo_ai.accounts.models import ApiKey, Invitation, Membership, RefreshToken, User, Workspace
from echo_ai.brands.models import BrandProfile
from echo_ai.db import Base
from echo_ai.experiments.models import Experiment
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import BatchRun, ExperimentRound, Iteration

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
