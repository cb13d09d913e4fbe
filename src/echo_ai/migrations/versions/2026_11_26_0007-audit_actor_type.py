"""Audit events say what kind of actor acted (user, API key, CLI, scheduler...).

Revision ID: 7a1c3e5d9b42
Revises: 5c1d0e7a9b21
Create Date: 2026-11-26 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a1c3e5d9b42"
down_revision: str | None = "5c1d0e7a9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(
            sa.Column("actor_type", sa.String(20), nullable=False, server_default="anonymous")
        )
    op.execute(
        "UPDATE audit_events SET actor_type = CASE"
        " WHEN actor_api_key_id IS NOT NULL THEN 'api_key'"
        " WHEN actor_user_id IS NOT NULL THEN 'user' ELSE 'anonymous' END"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("actor_type")
