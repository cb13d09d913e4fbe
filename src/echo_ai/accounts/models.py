"""Data exports prepared for users."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, UTCDateTime, UUIDPrimaryKey, str_enum, utcnow


class ExportStatus(enum.StrEnum):
    PREPARING = "preparing"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    """Deleted before its time: it named a person who has since deleted their account."""


class DataExport(UUIDPrimaryKey, Base):
    """A ZIP of everything about a user, prepared in the background; downloadable with its
    token until ``expires_at``, then deleted."""

    __tablename__ = "data_exports"
    __table_args__ = (
        Index("ix_data_exports_user_id_created", "user_id", "created_at"),
        # One export in preparation per user, also for requests at the same instant (the
        # check before the insert cannot see another transaction's uncommitted row).
        Index(
            "uq_data_exports_user_id_preparing",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'preparing'"),
            postgresql_where=text("status = 'preparing'"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[ExportStatus] = mapped_column(
        str_enum(ExportStatus), default=ExportStatus.PREPARING
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the download link's token."""
    file_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The ZIP's name in the exports folder of the data directory."""
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When its preparation last started (claimed by compare-and-set in
    :func:`echo_ai.accounts.export.prepare`)."""
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When the scheduler last dispatched it again (:func:`echo_ai.accounts.export.stalled`)."""
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
