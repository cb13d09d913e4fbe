"""The audit log: append-only records of security and data events (PRIV-03)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, JSONType, UTCDateTime, UUIDPrimaryKey, utcnow


class AuditEvent(UUIDPrimaryKey, Base):
    """One event. Rows are only ever inserted: no code path updates or deletes them.

    Ids of users, keys and workspaces are kept without foreign keys, so that the record
    of what happened outlives what it happened to.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_workspace_created", "workspace_id", "created_at"),
        Index("ix_audit_events_actor_user_id", "actor_user_id"),
        Index("ix_audit_events_created_at", "created_at"),
        # The audit log page filtered by action or by acting user, newest first.
        Index(
            "ix_audit_events_workspace_action_created",
            "workspace_id",
            "action",
            "created_at",
            "id",
        ),
        Index(
            "ix_audit_events_workspace_actor_created",
            "workspace_id",
            "actor_user_id",
            "created_at",
            "id",
        ),
    )

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(60))
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    actor_type: Mapped[str] = mapped_column(String(20), default="anonymous")
    """user, api_key, anonymous, cli or scheduler (see ``privacy.audit.ActorKind``)."""
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    actor_api_key_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    target_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(300), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
