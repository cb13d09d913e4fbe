"""Request and response bodies of a workspace's provider keys (the key itself is write-only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from echo_ai.text import SingleLine

MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 500
MAX_BASE_URL_LENGTH = 500


class ProviderKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: Annotated[
        str,
        SingleLine(min_length=1, max_length=MAX_KEY_LENGTH),
        Field(description="The vendor's API key. Stored encrypted; never returned."),
    ]
    base_url: Annotated[
        Annotated[str, SingleLine(min_length=1, max_length=MAX_BASE_URL_LENGTH)] | None,
        Field(
            description="`openai_compatible` only (required there): the server's base URL, "
            "http(s), which must not be on a private, loopback or link-local network."
        ),
    ] = None

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str) -> str:
        # The messages never repeat the key: a 422 body must not carry it.
        value = value.strip()
        if len(value) < MIN_KEY_LENGTH:
            raise ValueError(f"an API key has at least {MIN_KEY_LENGTH} characters")
        if not value.isascii() or any(not ch.isprintable() or ch.isspace() for ch in value):
            raise ValueError("an API key is made of printable ASCII characters without spaces")
        return value


class ProviderKeyOut(BaseModel):
    vendor: str
    last4: str = Field(description="The key's last four characters: all that is shown of it.")
    base_url: str | None
    created_at: datetime
    updated_at: datetime
    set_by_id: uuid.UUID | None = Field(description="The user who last set it (None: the CLI).")
    set_by_email: str | None
