"""One data export in preparation per user: a partial unique index on data_exports
(user_id) where status = 'preparing', so that two requests at the same instant cannot
both pass the check before their inserts.

Should a database hold two or more exports in preparation for one user (the race this
closes), all but the newest are marked failed first, as a failed export is shown.

Revision ID: 3e7a91c4d2b8
Revises: 3e7a9c1d5b24
Create Date: 2026-11-27 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e7a91c4d2b8"
down_revision: str | None = "3e7a9c1d5b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREPARING = sa.text("status = 'preparing'")


def upgrade() -> None:
    op.execute(
        """
        UPDATE data_exports SET status = 'failed',
            error = 'another export of the same account was being prepared at the same time'
        WHERE status = 'preparing' AND EXISTS (
            SELECT 1 FROM data_exports AS newer
            WHERE newer.user_id = data_exports.user_id AND newer.status = 'preparing'
              AND (newer.created_at > data_exports.created_at
                   OR (newer.created_at = data_exports.created_at
                       AND newer.id > data_exports.id))
        )
        """
    )
    op.create_index(
        "uq_data_exports_user_id_preparing",
        "data_exports",
        ["user_id"],
        unique=True,
        sqlite_where=PREPARING,
        postgresql_where=PREPARING,
    )


def downgrade() -> None:
    op.drop_index("uq_data_exports_user_id_preparing", table_name="data_exports")
