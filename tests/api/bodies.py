"""A valid request body of each body model of the API, every field of it given.

The property tests (``test_input_types``) and the fuzzing pass (``test_fuzz``) change
one value of these at a time; both fail for a body model that has no document here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from echo_ai.accounts.schemas import AccountDeletion, WorkspacePrivacyIn
from echo_ai.alerts.schemas import AlertRuleIn
from echo_ai.api.routers.account_security import (
    CodeIn,
    ConsentAccept,
    MarketingIn,
    PasswordAndCode,
    PasswordIn,
    RevokeAll,
    WorkspaceSecurity,
)
from echo_ai.api_keys.schemas import ApiKeyCreate
from echo_ai.auth.schemas import (
    EmailChangeRequest,
    EmailTokenSubmit,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    Registration,
    SignIn,
)
from echo_ai.billing.schemas import CheckoutCreate
from echo_ai.billing.spend_schemas import BudgetIn
from echo_ai.brands.schemas import BrandProfileIn
from echo_ai.credentials.schemas import ProviderKeyIn
from echo_ai.experiments.judge_schemas import SentimentJudgeIn
from echo_ai.experiments.schemas import AddCompetitorIn, ExperimentCreate, RescoreIn
from echo_ai.experiments.tracker_schemas import CandidatesIn, TrackerCreate, TrackerPromptsAdd
from echo_ai.schedules.schemas import ScheduleIn
from echo_ai.workspaces.schemas import (
    InvitationAccept,
    InvitationCreate,
    RoleChange,
    WorkspaceCreate,
)
from tests.kit import PASSWORD

BRAND = {
    "name": "HubSpot",
    "case_sensitive": False,
    "aliases": ["HubSpot CRM", {"text": "HS", "case_sensitive": True}],
    "domains": ["https://www.hubspot.com/pricing"],
    "exclude_terms": ["hub spot welding"],
}
COMPETITOR = {
    "name": "Salesforce",
    "case_sensitive": False,
    "aliases": ["SFDC", {"text": "Sales Cloud", "case_sensitive": False}],
    "domains": ["salesforce.com"],
    "exclude_terms": ["salesforce tower"],
}
BRANDS = {"target": BRAND, "competitors": [COMPETITOR]}
BODIES: dict[type[BaseModel], dict[str, Any]] = {
    ExperimentCreate: {
        "name": "CRM watch",
        "prompt": "Which CRM\nfor a startup?",
        "persona": "I run a 10-person agency.\nWe use Macs.",
        "brands": BRANDS,
        "providers": ["demo"],
        "iterations": 100,
        "precision": {"metric": "visibility", "half_width": 0.05, "min_answers": 30},
        "temperature": 0.7,
        "grounding": True,
        "require_grounding": False,
        "user_location": {
            "country": "FR",
            "region": "Ile-de-France",
            "city": "Paris",
            "timezone": "Europe/Paris",
        },
        "demo_probabilities": {"HubSpot": 0.5},
        "schedule": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"},
        "budget_usd": "25.00",
    },
    TrackerCreate: {
        "name": "CRM questions",
        "prompts": [{"prompt": "Which CRM\nfor a startup?", "topic": "startups"}],
        "persona": "I run a 10-person agency.\nWe use Macs.",
        "brands": BRANDS,
        "providers": ["demo"],
        "iterations": 100,
        "precision": {"metric": "visibility", "half_width": 0.05, "min_answers": 30},
        "temperature": 0.7,
        "grounding": True,
        "require_grounding": False,
        "user_location": {
            "country": "FR",
            "region": "Ile-de-France",
            "city": "Paris",
            "timezone": "Europe/Paris",
        },
        "demo_probabilities": {"HubSpot": 0.5},
        "schedule": {"cron": "0 9 * * 1", "timezone": "Europe/Paris"},
        "budget_usd": "25.00",
    },
    TrackerPromptsAdd: {"prompts": [{"prompt": "Best CRM?", "topic": "startups"}]},
    CandidatesIn: {
        "brands": BRANDS,
        "category": "CRM software",
        "provider": "demo",
        "count": 10,
    },
    RescoreIn: {"brands": BRANDS},
    AddCompetitorIn: {"name": "Attio", "aliases": ["Attio CRM"]},
    SentimentJudgeIn: {"provider": "demo", "run": 1},
    AlertRuleIn: {
        "name": "HubSpot visibility",
        "experiment_id": "00000000-0000-4000-8000-000000000001",
        "metrics": ["visibility", "mention_rate"],
        "brands": ["Salesforce"],
        "providers": ["all", "demo:demo-1"],
        "min_effect_points": 5.0,
        "compare_with": "baseline",
        "level": 0.05,
        "email_to": ["alerts@example.com"],
        "webhook_url": "https://93.184.216.34/hooks/echo",
        "webhook_format": "slack",
        "enabled": True,
    },
    BrandProfileIn: {
        "brand": BRAND,
        "competitors": [COMPETITOR],
        "description": "Our CRM.\nFor small teams.",
        "target_keywords": ["best crm"],
    },
    SignIn: {"email": "ada@example.com", "password": PASSWORD, "totp_code": "123456"},
    Registration: {
        "email": "ada@example.com",
        "password": PASSWORD,
        "display_name": "Ada",
        "accept_terms": True,
        "marketing_opt_in": False,
    },
    RefreshRequest: {"refresh_token": "rt_abc"},
    PasswordIn: {"password": PASSWORD},
    PasswordChange: {"current_password": PASSWORD, "new_password": PASSWORD + "!"},
    ApiKeyCreate: {"name": "ci", "scopes": ["read"], "expires_in_days": 30},
    WorkspaceCreate: {"name": "Growth team"},
    InvitationCreate: {"email": "bob@example.com", "role": "member"},
    InvitationAccept: {"token": "inv_abc"},
    RoleChange: {"role": "admin"},
    ScheduleIn: {"cron": "@daily", "timezone": "UTC"},
    CheckoutCreate: {"plan": "team"},
    ProviderKeyIn: {"api_key": "sk-test-Abcdefgh1234", "base_url": "https://llm.example.com/v1"},
    BudgetIn: {"monthly_usd": "50.00"},
    EmailTokenSubmit: {"token": "echo_ve_abc"},
    PasswordResetRequest: {"email": "ada@example.com"},
    PasswordResetConfirm: {"token": "echo_pr_abc", "new_password": PASSWORD + "?"},
    # Not the fuzzing user's password: a fuzzed DELETE /v1/account must never succeed.
    AccountDeletion: {"password": "not the password", "code": "123456"},
    WorkspacePrivacyIn: {"answer_retention_days": 14, "scrub_personal_data": True},
    CodeIn: {"code": "123456"},
    PasswordAndCode: {"password": PASSWORD, "code": "0a1b2c-3d4e5f"},
    RevokeAll: {"keep_current": True},
    ConsentAccept: {"terms_version": "2026-11-27", "privacy_version": "2026-11-27"},
    MarketingIn: {"opt_in": True},
    WorkspaceSecurity: {"require_2fa": True},
    # Not the fuzzing user's password either: no fuzzed change is ever asked for.
    EmailChangeRequest: {
        "new_email": "ada.new@example.com",
        "password": "not the password",
        "code": "123456",
    },
}
"""A valid document of each body model, with every field of it given."""
