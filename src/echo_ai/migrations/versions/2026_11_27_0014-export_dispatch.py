"""Data exports prepared by Celery workers: when an export's preparation last started
(``data_exports.started_at``: two deliveries never prepare it at once) and when the
scheduler last dispatched it again (``dispatched_at``: an export whose task was never
delivered, or whose worker died, is dispatched again, once per while).

Nullable columns only: nothing stored is rewritten.

Revision ID: 3e7a9c1d5b24
Revises: 8d4c2b7e9f13
Create Date: 2026-11-27 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e7a9c1d5b24"
down_revision: str | None = "8d4c2b7e9f13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("data_exports") as batch:
        batch.add_column(sa.Column("started_at", WHEN, nullable=True))
        batch.add_column(sa.Column("dispatched_at", WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_exports") as batch:
        batch.drop_column("dispatched_at")
        batch.drop_column("started_at")
