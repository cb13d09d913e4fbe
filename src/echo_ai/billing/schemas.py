"""Request and response bodies of billing (the workspace's plan and Stripe subscription)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from echo_ai.billing.plans import PlanName


class BillingOut(BaseModel):
    plan: PlanName
    billing_on: bool = Field(
        description="Stripe billing is configured; when false an operator sets plans with "
        "`echo-ai workspace-plan`."
    )
    subscription_status: str | None = Field(
        description="Stripe's status of the subscription (`active`, `past_due`, `canceled`...)"
        ", as last read from Stripe; null without one."
    )
    payment_failed_at: datetime | None
    grace_until: datetime | None = Field(
        description="When a workspace whose payment failed moves to the free plan."
    )
    plans_for_sale: list[PlanName] = Field(
        description="Plans that `POST /v1/billing/checkout` sells."
    )


class CheckoutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: Literal["team", "business"]


class RedirectOut(BaseModel):
    url: str = Field(description="Where to send the browser (a Stripe-hosted page).")
