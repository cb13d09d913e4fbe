"""The sentiment judge as a background job: one row per judging of a run's answers
(``sentiment_judgings``), with its status, progress, counts and cost so far, and at most
one queued or running per experiment (a partial unique index).

A new table only: stored experiments keep their last judging's summary
(``experiments.sentiment_judge``).

Revision ID: 5b2e9c7a41d3
Revises: 4f2b9d7e1c63
Create Date: 2026-11-27 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b2e9c7a41d3"
down_revision: str | None = "4f2b9d7e1c63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 8).with_variant(sa.String(40), "sqlite")  # echo_ai.db.Money
STATUSES = ("queued", "running", "completed", "stopped", "failed")
ACTIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.create_table(
        "sentiment_judgings",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=300), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="judgingstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("judged", sa.Integer(), nullable=False),
        sa.Column("invalid_output", sa.Integer(), nullable=False),
        sa.Column("provider_error", sa.Integer(), nullable=False),
        sa.Column("not_sent", sa.Integer(), nullable=False),
        sa.Column("cost_usd", MONEY, nullable=True),
        sa.Column("after_batch_id", sa.Uuid(), nullable=True),
        sa.Column("after_index", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_sentiment_judgings_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentiment_judgings")),
    )
    with op.batch_alter_table("sentiment_judgings") as batch:
        batch.create_index(
            "ix_sentiment_judgings_experiment_created", ["experiment_id", "created_at"]
        )
        batch.create_index(
            "uq_sentiment_judgings_experiment_active",
            ["experiment_id"],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )


def downgrade() -> None:
    op.drop_table("sentiment_judgings")
