"""Events received from outside (Stripe's webhooks), each processed once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, UTCDateTime, UUIDPrimaryKey, utcnow


class ExternalEvent(UUIDPrimaryKey, Base):
    """One delivered event, by its sender's id: a row inserted with ``ON CONFLICT DO
    NOTHING`` before the event is acted on, so a repeated delivery does nothing."""

    __tablename__ = "external_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    source: Mapped[str] = mapped_column(String(20))
    """``stripe``."""
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    """The workspace the event was about, once known."""
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
