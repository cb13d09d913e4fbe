"""The mail queue: one row per mail to send."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, UTCDateTime, UUIDPrimaryKey, str_enum, utcnow

BODY_GONE = "[sent: body not kept]"
"""The ``text_body`` of a mail once sent or given up: its links are not kept."""


class MailStatus(enum.StrEnum):
    QUEUED = "queued"
    """Waiting to be sent (again, after a failed try, from ``next_attempt_at``)."""
    SENT = "sent"
    """Handed to the SMTP server, or written to the outbox folder."""
    FAILED = "failed"
    """Given up after ``mail.max_attempts`` tries (``last_error`` says why)."""


class OutboundMail(UUIDPrimaryKey, Base):
    __tablename__ = "outbound_mails"
    __table_args__ = (Index("ix_outbound_mails_status_next", "status", "next_attempt_at"),)

    to_address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(40))
    """The template: ``verify_email``, ``reset_password``, ``invitation``, ``notice``..."""
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    """:data:`BODY_GONE` once the mail was sent or given up (``html_body`` NULL)."""
    html_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[MailStatus] = mapped_column(str_enum(MailStatus), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
