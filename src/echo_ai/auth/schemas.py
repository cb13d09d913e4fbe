"""Request and response bodies of sign-up, sign-in and tokens."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictBool

from echo_ai.security.passwords import MAX_PASSWORD_LENGTH
from echo_ai.text import SingleLine

MAX_EMAIL_LENGTH = 320
MAX_DISPLAY_NAME_LENGTH = 200
MAX_TOKEN_LENGTH = 200
"""Refresh and invitation tokens (ours are under 100 characters)."""
MAX_CODE_LENGTH = 32
"""A TOTP code (6 digits) or a recovery code (13 characters), with some spacing."""

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


def _accepted(value: bool) -> bool:
    if not value:
        raise ValueError("accept the terms of service and the privacy policy to sign up")
    return value


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class SignIn(Credentials):
    totp_code: Annotated[str, SingleLine(max_length=MAX_CODE_LENGTH)] | None = None
    """For an account with two-factor authentication: a current code of the
    authenticator app, or one of the recovery codes (used up)."""


class Registration(Credentials):
    display_name: Annotated[str, SingleLine(max_length=MAX_DISPLAY_NAME_LENGTH)] | None = None
    accept_terms: Annotated[StrictBool, AfterValidator(_accepted)]
    """Acceptance of the current terms of service and privacy policy (recorded with the
    versions, time and address). Required: a client must send ``true`` to show that its
    user accepted them; missing or false refuses the sign-up (422, a validation error on
    ``accept_terms``). The sign-up page asks with an unticked box."""
    marketing_opt_in: StrictBool = False
    """Product news by e-mail: a separate, withdrawable opt-in."""


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: Token


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password


class EmailChangeRequest(BaseModel):
    """A new address for one's account, confirmed by the password (and a 2FA code)."""

    model_config = ConfigDict(extra="forbid")

    new_email: Email
    password: Password
    code: Annotated[str, SingleLine(max_length=MAX_CODE_LENGTH)] | None = None
    """With two-factor authentication on: a current code of the authenticator app, or a
    recovery code (used up)."""


class ConsentRequired(BaseModel):
    terms_version: str
    privacy_version: str


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    """Seconds until the access token expires."""
    refresh_token: str
    consent_required: ConsentRequired | None = None
    """Set when newer terms or privacy policy versions than the user accepted are in
    force: show them and record acceptance with ``POST /v1/account/consents``."""


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
