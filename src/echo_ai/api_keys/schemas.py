"""Request and response bodies of API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from echo_ai.text import SingleLine

Scope = Literal["read", "write"]
MAX_KEY_NAME_LENGTH = 100


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, SingleLine(min_length=1, max_length=MAX_KEY_NAME_LENGTH)]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=2)] = ["read", "write"]
    expires_in_days: Annotated[StrictInt, Field(ge=1, le=3650)] | None = None


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    last4: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str
    """The key itself: shown this once, never stored."""
