"""Issue 12: plans, usage and spend counters, Stripe, budgets and workspaces' own keys.

New tables only, and nullable columns: nothing stored is rewritten, so the upgrade takes
no long lock. The monthly counters start empty and are filled from the iterations table by
the reconciliation (``echo-ai usage reconcile``, run daily by the scheduler).

Revision ID: 5b9e1f3a7c20
Revises: 3f8d2a6c1e57
Create Date: 2026-11-27 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b9e1f3a7c20"
down_revision: str | None = "3f8d2a6c1e57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 8).with_variant(sa.String(40), "sqlite")  # echo_ai.db.Money
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("stripe_customer_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("stripe_subscription_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("subscription_status", sa.String(40), nullable=True))
        batch.add_column(sa.Column("payment_failed_at", WHEN, nullable=True))
        batch.create_unique_constraint("uq_workspaces_stripe_customer_id", ["stripe_customer_id"])
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("budget_usd", MONEY, nullable=True))
        batch.add_column(sa.Column("skipped_at", WHEN, nullable=True))
        batch.add_column(sa.Column("skip_reason", sa.Text(), nullable=True))
    op.create_table(
        "workspace_budgets",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("monthly_usd", MONEY, nullable=False),
        sa.Column("alerted_month", sa.String(7), nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_workspace_budgets"),
    )
    op.create_table(
        "usage_months",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("iterations", sa.BigInteger(), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=False),
        sa.Column("reserved_nusd", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "month", name="pk_usage_months"),
    )
    op.create_table(
        "experiment_months",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("iterations", sa.BigInteger(), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=False),
        sa.Column("reserved_nusd", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "month", name="pk_experiment_months"),
    )
    op.create_table(
        "spend_lines",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(250), nullable=False),
        sa.Column("iterations", sa.BigInteger(), nullable=False),
        sa.Column("cost_nusd", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "month", "experiment_id", "provider", name="pk_spend_lines"
        ),
    )
    op.create_index("ix_spend_lines_workspace_month", "spend_lines", ["workspace_id", "month"])
    op.create_table(
        "external_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("processed_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_external_events"),
        sa.UniqueConstraint("source", "event_id", name="uq_external_events_source_event_id"),
    )
    op.create_table(
        "provider_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("vendor", sa.String(40), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name="fk_provider_credentials_workspace_id_workspaces",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name="fk_provider_credentials_created_by_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_provider_credentials"),
        sa.UniqueConstraint(
            "workspace_id", "vendor", name="uq_provider_credentials_workspace_id_vendor"
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_credentials")
    op.drop_table("external_events")
    op.drop_index("ix_spend_lines_workspace_month", table_name="spend_lines")
    op.drop_table("spend_lines")
    op.drop_table("experiment_months")
    op.drop_table("usage_months")
    op.drop_table("workspace_budgets")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("skip_reason")
        batch.drop_column("skipped_at")
        batch.drop_column("budget_usd")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_constraint("uq_workspaces_stripe_customer_id", type_="unique")
        batch.drop_column("payment_failed_at")
        batch.drop_column("subscription_status")
        batch.drop_column("stripe_subscription_id")
        batch.drop_column("stripe_customer_id")
