"""API keys: a workspace's credentials for programs."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, JSONType, UTCDateTime, UUIDPrimaryKey, utcnow


class ApiKey(UUIDPrimaryKey, Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_workspace_id", "workspace_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    """HMAC-SHA256 of the key with the server's pepper: one indexed lookup per request."""
    last4: Mapped[str] = mapped_column(String(4))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    """The member who vouches for the key: it works only while they are a member of the
    workspace, with at most their role. NULL once their user row is deleted, and then
    the key no longer works (see :func:`echo_ai.api_keys.service.authenticate`)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
