"""Issue 10: indexes the dashboard reads by: the audit log filtered by action or by actor
(newest first, keyset-paged), a workspace's batch runs finished since a time (the month's
cost on the overview), and an experiment's batch runs by run (its latest runs, the history
of a schedule that has run for years).

Revision ID: 9b3e61d0c2a4
Revises: 4d2a9c7e1f60
Create Date: 2026-11-26 19:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9b3e61d0c2a4"
down_revision: str | None = "4d2a9c7e1f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_workspace_action_created",
        "audit_events",
        ["workspace_id", "action", "created_at", "id"],
    )
    op.create_index(
        "ix_audit_events_workspace_actor_created",
        "audit_events",
        ["workspace_id", "actor_user_id", "created_at", "id"],
    )
    op.create_index(
        "ix_batch_runs_experiment_finished", "batch_runs", ["experiment_id", "finished_at"]
    )
    op.create_index("ix_batch_runs_experiment_round", "batch_runs", ["experiment_id", "round"])


def downgrade() -> None:
    op.drop_index("ix_batch_runs_experiment_round", table_name="batch_runs")
    op.drop_index("ix_batch_runs_experiment_finished", table_name="batch_runs")
    op.drop_index("ix_audit_events_workspace_actor_created", table_name="audit_events")
    op.drop_index("ix_audit_events_workspace_action_created", table_name="audit_events")
