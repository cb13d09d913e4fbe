"""Progress counters on batch runs and stored combined metrics per experiment round.

Counters of existing batches are recounted from their iterations. Every round gets its
row here; the combined metrics of rounds that have finished batches are computed by
``runs.service.fill_round_metrics``, which ``echo-ai migrate`` and the embedded start run
after an upgrade to the latest revision (the metrics are the application's code, not the schema's).

Revision ID: 8e4b2f6c1d07
Revises: 5c1d0e7a9b21
Create Date: 2026-11-26 10:00:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8e4b2f6c1d07"
down_revision: str | None = "5c1d0e7a9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
FINISHED = ("completed", "failed", "cancelled")


def upgrade() -> None:
    with op.batch_alter_table("batch_runs", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("stored", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        """
        UPDATE batch_runs SET
            stored = (SELECT count(*) FROM iterations i WHERE i.batch_run_id = batch_runs.id),
            succeeded = (
                SELECT count(*) FROM iterations i
                WHERE i.batch_run_id = batch_runs.id AND i.success
            ),
            failed = (
                SELECT count(*) FROM iterations i
                WHERE i.batch_run_id = batch_runs.id AND NOT i.success
            )
        """
    )

    rounds = op.create_table(
        "experiment_rounds",
        sa.Column("experiment_id", sa.Uuid(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("combined", JSON, nullable=True),
        sa.Column("combined_providers", JSON, nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_rounds_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_rounds")),
        sa.UniqueConstraint(
            "experiment_id", "round", name=op.f("uq_experiment_rounds_experiment_id_round")
        ),
    )
    assert rounds is not None

    # One row per existing round; nothing combined yet (``combined`` left SQL NULL, see the
    # module's docstring).
    batch_runs = sa.table(
        "batch_runs",
        sa.column("experiment_id", sa.Uuid()),
        sa.column("round", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    unfinished = sa.func.sum(sa.case((batch_runs.c.status.in_(FINISHED), 0), else_=1))
    existing = op.get_bind().execute(
        sa.select(
            batch_runs.c.experiment_id,
            batch_runs.c.round,
            unfinished.label("unfinished"),
            sa.func.min(batch_runs.c.created_at).label("created_at"),
            sa.func.max(batch_runs.c.updated_at).label("updated_at"),
        ).group_by(batch_runs.c.experiment_id, batch_runs.c.round)
    )
    rows = [
        {
            "id": uuid.uuid4(),
            "experiment_id": row.experiment_id,
            "round": row.round,
            "combined_providers": [],
            "complete": row.unfinished == 0,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
        for row in existing
    ]
    if rows:
        op.bulk_insert(rounds, rows)


def downgrade() -> None:
    op.drop_table("experiment_rounds")
    # Never a copy of the table on SQLite: dropping the old one would cascade to iterations.
    with op.batch_alter_table("batch_runs", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("stored")
