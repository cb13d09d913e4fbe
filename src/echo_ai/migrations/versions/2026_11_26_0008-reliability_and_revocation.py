"""Issue 9: what batches tell users when they fail (an error code of ours), who holds a
batch (a lease for resume), which providers failed in a round, and revoked invitations.

Revision ID: 4d2a9c7e1f60
Revises: 7a1c3e5d9b42
Create Date: 2026-11-26 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "4d2a9c7e1f60"
down_revision: str | None = "7a1c3e5d9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("batch_runs") as batch:
        batch.add_column(sa.Column("error_code", sa.String(40), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(200), nullable=True))
    with op.batch_alter_table("experiment_rounds") as batch:
        batch.add_column(sa.Column("failed_providers", _JSON, nullable=False, server_default="[]"))
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("revoked_at")
    with op.batch_alter_table("experiment_rounds") as batch:
        batch.drop_column("failed_providers")
    # Never a copy of the table on SQLite: dropping the old one would cascade to iterations.
    with op.batch_alter_table("batch_runs", recreate="never") as batch:
        batch.drop_column("lease_owner")
        batch.drop_column("error_code")
