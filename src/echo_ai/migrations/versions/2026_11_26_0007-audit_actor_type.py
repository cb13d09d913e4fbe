"""Audit events say what kind of actor acted (user, API key, CLI, scheduler...);
experiments run from the command line belong to the local workspace; an index for the
workspace's experiments listing (keyset on created_at, id).

Revision ID: 7a1c3e5d9b42
Revises: 8e4b2f6c1d07
Create Date: 2026-11-26 13:10:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "7a1c3e5d9b42"
down_revision: str | None = "8e4b2f6c1d07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCAL_WORKSPACE_ID = uuid.UUID("00000000-0000-4000-8000-00000000ec40")


def upgrade() -> None:
    op.create_index(
        "ix_experiments_workspace_created_id",
        "experiments",
        ["workspace_id", "created_at", "id"],
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(
            sa.Column("actor_type", sa.String(20), nullable=False, server_default="anonymous")
        )
    op.execute(
        "UPDATE audit_events SET actor_type = CASE"
        " WHEN actor_api_key_id IS NOT NULL THEN 'api_key'"
        " WHEN actor_user_id IS NOT NULL THEN 'user' ELSE 'anonymous' END"
    )

    # Experiments that belonged to no workspace (the command line's) move into the local
    # workspace (echo_ai.workspaces.local: the same fixed id and name).
    connection = op.get_bind()
    orphans = connection.execute(
        sa.text("SELECT count(*) FROM experiments WHERE workspace_id IS NULL")
    ).scalar_one()
    if orphans:
        local = sa.table(
            "workspaces",
            sa.column("id", sa.Uuid()),
            sa.column("name", sa.String()),
            sa.column("personal", sa.Boolean()),
            sa.column("plan", sa.String()),
            sa.column("created_at", sa.DateTime(timezone=True)),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        )
        exists = connection.execute(
            sa.select(sa.func.count()).select_from(local).where(local.c.id == LOCAL_WORKSPACE_ID)
        ).scalar_one()
        if not exists:
            now = datetime.now(UTC)
            op.bulk_insert(
                local,
                [
                    {
                        "id": LOCAL_WORKSPACE_ID,
                        "name": "Local (command line)",
                        "personal": False,
                        "plan": "free",
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
        experiments = sa.table("experiments", sa.column("workspace_id", sa.Uuid()))
        connection.execute(
            experiments.update()
            .where(experiments.c.workspace_id.is_(None))
            .values(workspace_id=LOCAL_WORKSPACE_ID)
        )


def downgrade() -> None:
    op.drop_index("ix_experiments_workspace_created_id", table_name="experiments")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor_type")
