"""Issue 11: answers that are not whole answers, reasoning kept apart, fees, parameters.

Every stored answer gets a class (complete, truncated, refused, empty) and the vendor's stop
reason; reasoning text is kept apart from the answer; the fee part of a call's cost is
kept beside it. A batch counts its truncated, refused and empty answers beside ``failed``
and records the generation parameters actually sent. Answers stored before were all taken
as complete: they are marked so.

Revision ID: 7c41e9a2b5d8
Revises: 9b3e61d0c2a4
Create Date: 2026-11-26 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MONEY = sa.Numeric(18, 8).with_variant(sa.String(40), "sqlite")  # echo_ai.db.Money

revision: str = "7c41e9a2b5d8"
down_revision: str | None = "9b3e61d0c2a4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTERS = ("truncated", "refused", "empty")


def upgrade() -> None:
    with op.batch_alter_table("iterations") as batch:
        batch.add_column(sa.Column("answer_class", sa.String(16), nullable=True))
        batch.add_column(sa.Column("stop_reason", sa.String(100), nullable=True))
        batch.add_column(sa.Column("reasoning", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reasoning_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fee_usd", MONEY, nullable=True))
    op.execute("UPDATE iterations SET answer_class = 'complete' WHERE success")
    with op.batch_alter_table("batch_runs") as batch:
        for name in _COUNTERS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("parameters", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_runs") as batch:
        batch.drop_column("parameters")
        for name in reversed(_COUNTERS):
            batch.drop_column(name)
    with op.batch_alter_table("iterations") as batch:
        for name in ("fee_usd", "reasoning_tokens", "reasoning", "stop_reason", "answer_class"):
            batch.drop_column(name)
