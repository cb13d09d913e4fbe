"""Provider credentials a workspace brings: one per vendor."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from echo_ai.db import Base, Timestamps, UUIDPrimaryKey


class ProviderCredential(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "provider_credentials"
    __table_args__ = (UniqueConstraint("workspace_id", "vendor"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    vendor: Mapped[str] = mapped_column(String(40))
    """``openai``, ``anthropic``, ``perplexity``, ``gemini`` or ``openai_compatible`` (the
    vendor names of provider specs: :data:`echo_ai.credentials.store.STORABLE_VENDORS`)."""
    api_key_encrypted: Mapped[str] = mapped_column(Text)
    """A Fernet token of the key (:mod:`echo_ai.credentials.vault`); never returned."""
    last4: Mapped[str] = mapped_column(String(4))
    """The key's last four characters: all that is ever shown of it."""
    base_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    """For ``openai-compatible`` (checked not to reach the server's own network)."""
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
