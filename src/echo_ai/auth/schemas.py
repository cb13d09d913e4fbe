"""Request and response bodies of sign-up, sign-in and tokens."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from echo_ai.security.passwords import MAX_PASSWORD_LENGTH
from echo_ai.text import SingleLine

MAX_EMAIL_LENGTH = 320
MAX_DISPLAY_NAME_LENGTH = 200
MAX_TOKEN_LENGTH = 200
"""Refresh and invitation tokens (ours are under 100 characters)."""

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalise_email(value: str) -> str:
    value = value.strip().lower()  # lower() can lengthen it ("İ" is two characters lowered)
    if len(value) > MAX_EMAIL_LENGTH or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value


Email = Annotated[str, SingleLine(max_length=MAX_EMAIL_LENGTH), AfterValidator(normalise_email)]
"""An email address, lower-cased (accounts and invitations)."""
Password = Annotated[str, SingleLine(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
"""The policy (length, not blank) is checked where a password is set, not at sign-in."""
Token = Annotated[str, SingleLine(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class Registration(Credentials):
    display_name: Annotated[str, SingleLine(max_length=MAX_DISPLAY_NAME_LENGTH)] | None = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Token


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    """Seconds until the access token expires."""
    refresh_token: str


class Message(BaseModel):
    message: str


class EmailTokenSubmit(BaseModel):
    """A token from a mailed link (address verification)."""

    model_config = ConfigDict(extra="forbid")

    token: Token


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token
    new_password: Password
