"""Request and response models of budgets and cost reports (the JSON API's shapes).

Money is a decimal string in USD, written out in full (``"0.000125"``, never an
exponent), so that no client has to parse floats to add up a bill.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_BUDGET_USD = Decimal("1000000")
"""The largest monthly budget (or experiment cap) accepted: a typo guard, far above any
real month of LLM calls."""

BudgetAmount = Annotated[
    Decimal,
    Field(
        gt=0,
        le=MAX_BUDGET_USD,
        decimal_places=2,
        allow_inf_nan=False,
        description="USD per calendar month (UTC): more than 0, at most 1,000,000, "
        "cents at most (a JSON number or a decimal string).",
        examples=["50.00"],
    ),
]

GroupBy = Literal["month", "provider", "experiment"]


def usd_text(amount: Decimal) -> str:
    """A USD amount as a plain decimal string (no exponent, no trailing zeros past cents)."""
    text = format(amount, "f")
    if "." in text:
        whole, fraction = text.split(".")
        fraction = fraction.rstrip("0").ljust(2, "0")
        text = f"{whole}.{fraction}"
    else:
        text += ".00"
    return text


class BudgetIn(BaseModel):
    """A monthly budget: the hard cap of the workspace's (or an experiment's) LLM spend."""

    model_config = ConfigDict(extra="forbid")

    monthly_usd: BudgetAmount


class BudgetStatusOut(BaseModel):
    """The workspace's budget this month: what is spent, in flight and left."""

    month: str = Field(description="The calendar month (UTC), `YYYY-MM`.")
    monthly_usd: str | None = Field(description="The budget (hard cap); null: no budget.")
    spent_usd: str = Field(description="Cost of the iterations stored this month.")
    reserved_usd: str = Field(description="Cost reserved by calls in flight now.")
    left_usd: str | None = Field(
        description="Budget minus spent and reserved (never below 0); null: no budget."
    )
    share_used: float | None = Field(
        description="(Spent + reserved) / budget, e.g. 0.82; null: no budget."
    )
    alert_share: float = Field(description="The share at which the soft alert is raised.")
    alert: bool = Field(description="The share used has reached the alert share.")
    exhausted: bool = Field(description="Nothing is left: runs are refused (402).")
    iterations: int = Field(description="Iterations stored this month.")


class ExperimentBudgetOut(BaseModel):
    """An experiment's own monthly cap."""

    experiment_id: uuid.UUID
    monthly_usd: str | None = Field(description="The cap; null: only the workspace's budget.")


class CostLineOut(BaseModel):
    key: str = Field(
        description="The group: a month `YYYY-MM`, a provider `vendor:model` or an experiment id."
    )
    label: str = Field(
        description="What to show: the month, the provider, or the experiment's current "
        "name (`(deleted experiment)` once it is deleted)."
    )
    iterations: int
    cost_usd: str
    synthetic: Literal["yes", "no", "partly"] = Field(
        description="Whether the iterations came from the offline demo provider (synthetic "
        "answers, no cost): all of them, none, or some."
    )
    deleted: bool = Field(description="An experiment that has since been deleted.")


class CostReportOut(BaseModel):
    """Iterations stored and their cost, per month, provider or experiment."""

    from_month: str = Field(description="The first month, `YYYY-MM`.")
    to_month: str = Field(description="The last month, `YYYY-MM` (included).")
    group_by: GroupBy
    lines: list[CostLineOut]
    iterations: int = Field(description="All the lines' iterations.")
    cost_usd: str = Field(description="All the lines' cost.")
