"""Issue 11: real and synthetic providers combined apart, with equal-weight averages.

A round's combined figures no longer pool demo answers with real ones: ``combinations``
keeps one combination per kind that ran (real first), each with the providers it pools,
those still running, the pooled figures and the average over providers. Rounds stored
before are left NULL here and filled from their iterations by ``fill_round_metrics``
(which ``echo-ai migrate`` and the embedded start run after the upgrade), which also
recomputes their ``combined`` without the demo when real providers ran beside it.

Revision ID: 3f8d2a6c1e57
Revises: 7c41e9a2b5d8
Create Date: 2026-11-26 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "3f8d2a6c1e57"
down_revision: str | None = "7c41e9a2b5d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiment_rounds") as batch:
        batch.add_column(sa.Column("combinations", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiment_rounds") as batch:
        batch.drop_column("combinations")
