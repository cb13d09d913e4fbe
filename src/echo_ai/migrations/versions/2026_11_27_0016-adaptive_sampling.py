"""Adaptive sampling and personas: an experiment's precision target
(``experiments.precision``), the target each batch was planned with
(``batch_runs.precision``) and its tally after each round (``batch_runs.looks``); the
persona an experiment asks as (``experiments.persona``).

Nullable columns only: stored experiments and batches keep their fixed counts.

Revision ID: 5b8e2f7a0c31
Revises: 3e7a91c4d2b8
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b8e2f7a0c31"
down_revision: str | None = "3e7a91c4d2b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("precision", JSON, nullable=True))
        batch.add_column(sa.Column("persona", sa.Text(), nullable=True))
    with op.batch_alter_table("batch_runs") as batch:
        batch.add_column(sa.Column("precision", JSON, nullable=True))
        batch.add_column(sa.Column("looks", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_runs") as batch:
        batch.drop_column("looks")
        batch.drop_column("precision")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("persona")
        batch.drop_column("precision")
