"""Initial schema: experiments, batch runs and iterations.

Revision ID: 226c59716145
Revises:
Create Date: 2026-11-25 06:39:05.205942
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MONEY = sa.Numeric(18, 8).with_variant(sa.String(40), "sqlite")

revision: str = "226c59716145"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("brands", JSON, nullable=False),
        sa.Column("brands_revision", sa.Integer(), nullable=False),
        sa.Column("providers", JSON, nullable=False),
        sa.Column("iterations", sa.Integer(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("grounding", sa.Boolean(), nullable=False),
        sa.Column("require_grounding", sa.Boolean(), nullable=False),
        sa.Column("user_location", JSON, nullable=True),
        sa.Column("demo_probabilities", JSON, nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "completed",
                "failed",
                "cancelled",
                name="experimentstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index("ix_experiments_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_experiments_workspace_status_created",
            ["workspace_id", "status", "created_at"],
            unique=False,
        )

    op.create_table(
        "batch_runs",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "finalizing",
                "completed",
                "failed",
                "cancelled",
                name="batchstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("iterations_requested", sa.Integer(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("metrics", JSON, nullable=True),
        sa.Column("metrics_history", JSON, nullable=False),
        sa.Column("brands_revision", sa.Integer(), nullable=False),
        sa.Column("cost_usd", MONEY, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_batch_runs_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_runs")),
    )
    with op.batch_alter_table("batch_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_batch_runs_experiment_status", ["experiment_id", "status"], unique=False
        )

    op.create_table(
        "iterations",
        sa.Column("batch_run_id", sa.Uuid(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", MONEY, nullable=True),
        sa.Column("model_version", sa.String(length=200), nullable=True),
        sa.Column("searched", sa.Boolean(), nullable=False),
        sa.Column("citations", JSON, nullable=False),
        sa.Column("sources", JSON, nullable=False),
        sa.Column("search_queries", JSON, nullable=False),
        sa.Column("extraction", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_run_id"],
            ["batch_runs.id"],
            name=op.f("fk_iterations_batch_run_id_batch_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iterations")),
        sa.UniqueConstraint("batch_run_id", "index", name=op.f("uq_iterations_batch_run_id_index")),
    )
    with op.batch_alter_table("iterations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_iterations_batch_run_success", ["batch_run_id", "success"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("iterations", schema=None) as batch_op:
        batch_op.drop_index("ix_iterations_batch_run_success")

    op.drop_table("iterations")
    with op.batch_alter_table("batch_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_runs_experiment_status")

    op.drop_table("batch_runs")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index("ix_experiments_workspace_status_created")
        batch_op.drop_index("ix_experiments_created_at")

    op.drop_table("experiments")
