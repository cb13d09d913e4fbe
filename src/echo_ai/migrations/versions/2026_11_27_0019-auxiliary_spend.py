"""What a spend line's cost paid for (``spend_lines.purpose``): an experiment's answers, or
a provider call made outside them (``candidate_prompts``, ``sentiment_judge``); and the
last sentiment judging of an experiment's answers (``experiments.sentiment_judge``).

The purpose joins the line's key, so an experiment's answers and the calls made for it
on the same model stay two lines. Stored lines are answers' lines. The new experiments
column is nullable: stored experiments were never judged.

Revision ID: db1b80d16f5f
Revises: 8c4d1e6f2a97
Create Date: 2026-11-27 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "db1b80d16f5f"
down_revision: str | None = "8c4d1e6f2a97"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KEY = ["workspace_id", "month", "experiment_id", "provider"]
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("spend_lines") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(40), nullable=False, server_default="answers")
        )
        batch.drop_constraint("pk_spend_lines", type_="primary")
        batch.create_primary_key("pk_spend_lines", [*_OLD_KEY, "purpose"])
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("sentiment_judge", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("sentiment_judge")
    op.execute("DELETE FROM spend_lines WHERE purpose <> 'answers'")
    with op.batch_alter_table("spend_lines") as batch:
        batch.drop_constraint("pk_spend_lines", type_="primary")
        batch.create_primary_key("pk_spend_lines", _OLD_KEY)
        batch.drop_column("purpose")
