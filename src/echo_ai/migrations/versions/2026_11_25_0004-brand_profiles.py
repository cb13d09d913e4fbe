"""Brand profiles of a workspace.

Revision ID: 1a3ce6a5d395
Revises: 45c20d177494
Create Date: 2026-11-25 08:35:44.257231
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "1a3ce6a5d395"
down_revision: str | None = "45c20d177494"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "brand_profiles",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("brands", JSON, nullable=False),
        sa.Column("target_keywords", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_brand_profiles_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_profiles")),
    )
    with op.batch_alter_table("brand_profiles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_brand_profiles_workspace_created", ["workspace_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("brand_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_brand_profiles_workspace_created")

    op.drop_table("brand_profiles")
