"""Brand profiles: a workspace's brand, its competitors and what it wants to be found for."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, JSONType, Timestamps, UUIDPrimaryKey


class BrandProfile(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "brand_profiles"
    __table_args__ = (Index("ix_brand_profiles_workspace_created", "workspace_id", "created_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    brands: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """The brand and its competitors as a :class:`~echo_ai.analysis.brands.BrandSet`."""
    target_keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
