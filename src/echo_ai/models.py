"""Import every model so the metadata is complete (Alembic, test set-up)."""

from echo_ai.accounts.models import DataExport
from echo_ai.alerts.models import Alert, AlertDelivery, AlertEvaluation, AlertRule, DeliveryAttempt
from echo_ai.api_keys.models import ApiKey
from echo_ai.auth.models import Consent, RecoveryCode, RefreshToken, User, UserToken
from echo_ai.billing.models import ExternalEvent
from echo_ai.brands.models import BrandProfile
from echo_ai.credentials.models import ProviderCredential
from echo_ai.db import Base
from echo_ai.mail.models import OutboundMail
from echo_ai.metering.models import ExperimentMonth, SpendLine, UsageMonth, WorkspaceBudget
from echo_ai.privacy.models import AuditEvent
from echo_ai.runs.models import (
    BatchRun,
    Experiment,
    ExperimentRound,
    Iteration,
    SentimentJudging,
    Tracker,
)
from echo_ai.workspaces.models import Invitation, Membership, Workspace

__all__ = [
    "Alert",
    "AlertDelivery",
    "AlertEvaluation",
    "AlertRule",
    "ApiKey",
    "AuditEvent",
    "Base",
    "BatchRun",
    "BrandProfile",
    "Consent",
    "DataExport",
    "DeliveryAttempt",
    "Experiment",
    "ExperimentMonth",
    "ExperimentRound",
    "ExternalEvent",
    "Invitation",
    "Iteration",
    "Membership",
    "OutboundMail",
    "ProviderCredential",
    "RecoveryCode",
    "RefreshToken",
    "SentimentJudging",
    "SpendLine",
    "Tracker",
    "UsageMonth",
    "User",
    "UserToken",
    "Workspace",
    "WorkspaceBudget",
]
