"""Monthly counters of use and spend.

Money here is counted in whole nano-dollars (``BIGINT``, 10⁻⁹ USD): the counters move by
SQL arithmetic from many processes at once, which must be exact on both backends (SQLite
has no decimal type) and fast. :func:`echo_ai.metering.units.to_nano` and
:func:`~echo_ai.metering.units.to_usd` convert.

Months are ``YYYY-MM`` in UTC: an iteration counts in the month it was stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, Money, UTCDateTime, utcnow


class WorkspaceBudget(Base):
    """A workspace's monthly budget for LLM calls (no row: no budget)."""

    __tablename__ = "workspace_budgets"

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    monthly_usd: Mapped[Decimal] = mapped_column(Money())
    """The most the workspace's calls may cost per calendar month (UTC): the hard cap."""
    alerted_month: Mapped[str | None] = mapped_column(String(7), nullable=True)
    """The month whose soft alert (``billing.budget_alert_share`` of the cap) was raised:
    one alert per month."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UsageMonth(Base):
    """One workspace's month: iterations stored, what they cost, and the cost reserved by
    calls in flight (the row a budget reservation locks)."""

    __tablename__ = "usage_months"

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    iterations: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ExperimentMonth(Base):
    """One experiment's month, for its own cap: cost stored and cost reserved."""

    __tablename__ = "experiment_months"

    experiment_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    iterations: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_nusd: Mapped[int] = mapped_column(BigInteger, default=0)


ANSWERS = "answers"
"""The purpose of an experiment's answers' spend lines."""
NO_EXPERIMENT = uuid.UUID(int=0)
"""The ``experiment_id`` of spend lines of calls made for no experiment (candidate
prompts): part of the line's key, so it cannot be NULL."""


class SpendLine(Base):
    """Iterations and cost of one experiment's provider (``vendor:model``) in a month, for
    one ``purpose``: the lines of cost reports (kept when the experiment is deleted).

    ``answers`` lines are the experiment's answers (reconciliation recomputes them from the
    iterations). Other purposes are auxiliary calls (:mod:`echo_ai.billing.auxiliary`):
    their line is their only record, their ``iterations`` stay 0 (they are no answers and
    use no plan quota), and one made for no experiment has :data:`NO_EXPERIMENT`."""

    __tablename__ = "spend_lines"
    __table_args__ = (Index("ix_spend_lines_workspace_month", "workspace_id", "month"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(250), primary_key=True)
    purpose: Mapped[str] = mapped_column(
        String(40), primary_key=True, default=ANSWERS, server_default=ANSWERS
    )
    iterations: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nusd: Mapped[int] = mapped_column(BigInteger, default=0)
