"""Response bodies of the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    action: str
    actor_type: str
    """user, api_key, anonymous (before sign-in), cli or scheduler."""
    actor_user_id: uuid.UUID | None
    actor_api_key_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]
