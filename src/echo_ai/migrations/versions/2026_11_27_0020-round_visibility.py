"""A run's combined visibility on its own (``experiment_rounds.visibility``): the stored
``visibility`` member of ``combined``, kept apart so that reading the visibility of many
runs (a tracker's figures over time, the overview's sparklines) does not decompress each
run's whole metrics document. Filled from ``combined`` for the runs already stored.

Revision ID: 4f2b9d7e1c63
Revises: db1b80d16f5f
Create Date: 2026-11-27 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "4f2b9d7e1c63"
down_revision: str | None = "db1b80d16f5f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("experiment_rounds") as batch:
        batch.add_column(sa.Column("visibility", JSON, nullable=True))
    member = (
        "combined -> 'visibility'"
        if op.get_bind().dialect.name == "postgresql"
        else "json_extract(combined, '$.visibility')"
    )
    op.execute(
        f"UPDATE experiment_rounds SET visibility = {member} WHERE combined IS NOT NULL"  # noqa: S608
    )


def downgrade() -> None:
    with op.batch_alter_table("experiment_rounds") as batch:
        batch.drop_column("visibility")
