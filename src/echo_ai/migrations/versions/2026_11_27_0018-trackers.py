"""Trackers: a named set of prompts, one experiment each (``trackers``), and the tracker
and topic an experiment belongs to (``experiments.tracker_id``, ``experiments.topic``).

Nullable columns only: stored experiments stay stand-alone.

Revision ID: 8c4d1e6f2a97
Revises: a1e7c5d09b42
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c4d1e6f2a97"
down_revision: str | None = "a1e7c5d09b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trackers",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_trackers_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trackers")),
    )
    with op.batch_alter_table("trackers") as batch:
        batch.create_index("ix_trackers_workspace_created", ["workspace_id", "created_at"])
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("tracker_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("topic", sa.String(length=100), nullable=True))
        batch.create_foreign_key(
            op.f("fk_experiments_tracker_id_trackers"),
            "trackers",
            ["tracker_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_experiments_tracker_id", ["tracker_id"])


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_index("ix_experiments_tracker_id")
        batch.drop_constraint(op.f("fk_experiments_tracker_id_trackers"), type_="foreignkey")
        batch.drop_column("topic")
        batch.drop_column("tracker_id")
    with op.batch_alter_table("trackers") as batch:
        batch.drop_index("ix_trackers_workspace_created")
    op.drop_table("trackers")
