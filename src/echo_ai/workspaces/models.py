"""Workspaces, their members (with roles) and invitations."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.billing.plans import PlanName
from echo_ai.db import Base, Timestamps, UTCDateTime, UUIDPrimaryKey, str_enum, utcnow


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def can_write(self) -> bool:
        return self is not Role.VIEWER

    @property
    def can_manage(self) -> bool:
        """Members, invitations, API keys and the audit log."""
        return self in (Role.OWNER, Role.ADMIN)

    def at_most(self, other: Role) -> Role:
        """The narrower of the two roles (roles are declared from the widest down): an
        API key acts with at most its creator's current role."""
        order = list(Role)
        return max(self, other, key=order.index)


class Workspace(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "workspaces"

    name: Mapped[str] = mapped_column(String(200))
    personal: Mapped[bool] = mapped_column(Boolean, default=False)
    plan: Mapped[PlanName] = mapped_column(str_enum(PlanName), default=PlanName.FREE)
    """What the workspace may use (see :mod:`echo_ai.billing.plans`)."""
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100), nullable=True, unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    subscription_status: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """Stripe's status of the subscription (``active``, ``past_due``, ``canceled``...), as
    last read from Stripe; None without one."""
    payment_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """When a payment first failed: the plan is kept for the grace period from then."""
    require_2fa: Mapped[bool] = mapped_column(Boolean, default=False)
    """Owners require two-factor authentication of every member."""
    scrub_personal_data: Mapped[bool] = mapped_column(Boolean, default=False)
    """E-mail addresses and phone numbers are removed from prompts and answers before they
    are stored."""
    answer_retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The workspace's own (shorter) retention of raw answers; None: its plan's."""


class Membership(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        Index("ix_memberships_user_id", "user_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(str_enum(Role))


class Invitation(UUIDPrimaryKey, Base):
    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_workspace_id", "workspace_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """Set when the invitation was withdrawn (e.g. its inviter left the workspace)."""
