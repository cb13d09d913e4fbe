"""HTTP routes of changing one's e-mail address (:mod:`echo_ai.accounts.email_change`):
ask for it with the password (and a 2FA code), confirm it with the token of the link
mailed to the new address."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel

from echo_ai.accounts import email_change
from echo_ai.api import limits
from echo_ai.api.auth import AccountActor, AccountUser, ClientActor
from echo_ai.api.deps import SessionDep, StateDep
from echo_ai.api.errors import AUTH_ERRORS, BODY_ERRORS, error_responses, refusal_kept
from echo_ai.api.limits import LOGIN_PER_IP
from echo_ai.auth.schemas import EmailChangeRequest, EmailTokenSubmit, Message
from echo_ai.db import utcnow
from echo_ai.errors import AppError
from echo_ai.security.rate_limit import RateLimiterDep, rate_limit

router = APIRouter(tags=["account security"])


class PendingEmailOut(BaseModel):
    email: str
    """The new address, where the confirmation link was sent."""
    expires_at: datetime


class EmailState(BaseModel):
    email: str
    email_verified_at: datetime | None
    pending_change: PendingEmailOut | None
    """A change waiting for the confirmation from the new address (only the latest
    requested one works)."""


class EmailChangeRequested(Message):
    pending_change: PendingEmailOut


def _pending(change: email_change.PendingChange | None) -> PendingEmailOut | None:
    if change is None:
        return None
    return PendingEmailOut(email=change.email, expires_at=change.expires_at)


@router.get("/v1/account/email", response_model=EmailState, responses=error_responses(*AUTH_ERRORS))
async def email_state(user: AccountUser, session: SessionDep) -> EmailState:
    """Your address, when it was confirmed, and a change waiting for its confirmation."""
    pending = await email_change.pending_change(session, user, now=utcnow())
    return EmailState(
        email=user.email, email_verified_at=user.email_verified_at, pending_change=_pending(pending)
    )


@router.post(
    "/v1/account/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EmailChangeRequested,
    responses=error_responses(*AUTH_ERRORS, *BODY_ERRORS, 409, 429),
)
async def request_email_change(
    data: EmailChangeRequest,
    user: AccountUser,
    session: SessionDep,
    state: StateDep,
    actor: AccountActor,
    limiter: RateLimiterDep,
) -> EmailChangeRequested | Response:
    """Change your address: needs the password (and a current or recovery code with 2FA
        on; 401 otherwise, failures audited, attempts limited per account: 429). Each new
    address may be asked for a few times an hour, whichever accounts ask (429 with
    ``Retry-After``), so that it cannot be flooded with links. A
        single-use link (valid ``privacy.email_change_hours``) is mailed to the new address,
        a notice to the current one; the address changes once the link is confirmed. The
        answer is the same whether or not the new address has an account (409 only if it is
        your current one)."""
    try:
        pending = await limits.request_email_change(
            session, limiter, user, data, keys=state.keys, actor=actor, settings=state.settings
        )
    except AppError as refused:
        return refusal_kept(refused)
    return EmailChangeRequested(
        message=f"a link to confirm the change is on its way to {pending.email}",
        pending_change=PendingEmailOut(email=pending.email, expires_at=pending.expires_at),
    )


@router.post(
    "/v1/account/email/confirm",
    response_model=Message,
    responses=error_responses(*BODY_ERRORS, 409, 429),
    dependencies=[Depends(rate_limit(LOGIN_PER_IP, name="confirm-email"))],
)
async def confirm_email_change(
    data: EmailTokenSubmit, session: SessionDep, state: StateDep, actor: ClientActor
) -> Message:
    """Confirm a change with the token of the link mailed to the new address (no sign-in
    needed: the link vouches for it). 400 ``invalid_token`` if it is unknown, expired or
    used; 409 ``email_taken`` if another account has the address by now. The address is
    confirmed at once, the sessions stay, and the old address gets a notice."""
    user = await email_change.confirm_change(
        session, data.token, actor=actor, settings=state.settings
    )
    return Message(message=f"the account's address is now {user.email}")
