"""Recurring experiments: schedules, runs (rounds) and batch heartbeats; workspace plans.

Revision ID: 5c1d0e7a9b21
Revises: 1a3ce6a5d395
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1d0e7a9b21"
down_revision: str | None = "1a3ce6a5d395"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan", sa.String(length=20), nullable=False, server_default="free")
        )

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("brand_profile_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("runs", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("schedule_cron", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column(
                "schedule_timezone", sa.String(length=64), nullable=False, server_default="UTC"
            )
        )
        batch_op.add_column(
            sa.Column("schedule_paused", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_experiments_next_run_at", ["next_run_at"], unique=False)

    with op.batch_alter_table("batch_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_batch_runs_status_heartbeat", ["status", "heartbeat_at"], unique=False
        )
    # Batches unfinished at the upgrade get a heartbeat, so the scheduler can find them.
    op.execute("UPDATE batch_runs SET heartbeat_at = updated_at WHERE heartbeat_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("batch_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_runs_status_heartbeat")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("round")

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index("ix_experiments_next_run_at")
        batch_op.drop_column("last_run_at")
        batch_op.drop_column("next_run_at")
        batch_op.drop_column("schedule_paused")
        batch_op.drop_column("schedule_timezone")
        batch_op.drop_column("schedule_cron")
        batch_op.drop_column("runs")
        batch_op.drop_column("brand_profile_id")

    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("plan")
