"""Request and response models of budgets and cost reports (the JSON API's shapes).

Money is a decimal string in USD, written out in full (``"0.000125"``, never an
exponent), so that no client has to parse floats to add up a bill.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from echo_ai.text import SingleLine

MAX_BUDGET_USD = Decimal("1000000")
"""The largest monthly budget (or experiment cap) accepted: a typo guard, far above any
real month of LLM calls."""

MAX_AMOUNT_LENGTH = 24
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")  # ASCII digits only


def checked_usd(amount: Decimal) -> Decimal:
    """A budget amount in cents, or ``ValueError`` saying what is wrong with it."""
    if not amount.is_finite():
        raise ValueError("the budget must be a number of US dollars, e.g. 50 or 12.50")
    if amount <= 0:
        raise ValueError("the budget must be more than $0 (clear it to remove it)")
    if amount > MAX_BUDGET_USD:
        raise ValueError(f"the budget can be at most ${MAX_BUDGET_USD:,} a month")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("the budget is in dollars and cents: at most 2 decimal places")
    return amount.quantize(Decimal("0.01"))


def parse_usd(text: str, *, typed: bool = False) -> Decimal:
    """A budget written as a decimal string (``"50"``, ``"12.50"``), checked by
    :func:`checked_usd`; ``typed``: as a person types it, ``$`` and thousands separators
    allowed (``"$1,000"``). Anything else is ``ValueError``."""
    cleaned = text.strip()
    if typed:
        cleaned = cleaned.removeprefix("$").replace(",", "").strip()
    if not _DECIMAL.fullmatch(cleaned):
        raise ValueError("the budget must be a number of US dollars, e.g. 50 or 12.50")
    return checked_usd(Decimal(cleaned))


BudgetAmount = Annotated[
    str,
    SingleLine(max_length=MAX_AMOUNT_LENGTH),
    AfterValidator(lambda text: str(parse_usd(text))),
    Field(
        description="USD per calendar month (UTC) as a decimal string: more than 0, at "
        "most 1000000, cents at most.",
        examples=["50.00"],
    ),
]
"""A monthly budget or cap in the JSON API: a decimal string checked by :func:`parse_usd`
(stored as the checked amount, e.g. ``"12.50"``)."""


GroupBy = Literal["month", "provider", "experiment", "purpose"]


class BudgetIn(BaseModel):
    """A monthly budget: the hard cap of the workspace's (or an experiment's) LLM spend."""

    model_config = ConfigDict(extra="forbid")

    monthly_usd: Annotated[
        str,
        SingleLine(max_length=MAX_AMOUNT_LENGTH),
        Field(
            description="USD per calendar month (UTC) as a decimal string: more than 0, at "
            "most 1000000, cents at most.",
            examples=["50.00"],
        ),
    ]

    @field_validator("monthly_usd")
    @classmethod
    def _amount(cls, value: str) -> str:
        return str(parse_usd(value))

    @property
    def amount(self) -> Decimal:
        return Decimal(self.monthly_usd)


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
    """Iterations stored and their cost, per month, provider, experiment or purpose."""

    from_month: str = Field(description="The first month, `YYYY-MM`.")
    to_month: str = Field(description="The last month, `YYYY-MM` (included).")
    group_by: GroupBy
    lines: list[CostLineOut]
    iterations: int = Field(description="All the lines' iterations.")
    cost_usd: str = Field(description="All the lines' cost.")
