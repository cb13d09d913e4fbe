"""Signing in, shared by the JSON API (``/auth/login``, ``/auth/session``) and the web
pages (``/login``, ``/signup``): throttled credential checks and browser sessions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.api.session import set_session_cookies
from echo_ai.api.state import ServiceState
from echo_ai.auth import service as accounts
from echo_ai.auth.models import User
from echo_ai.auth.schemas import Credentials
from echo_ai.errors import AppError
from echo_ai.privacy.audit import Actor
from echo_ai.security.csrf import issue_csrf_token
from echo_ai.security.keys import KeyRing
from echo_ai.security.rate_limit import client_ip
from echo_ai.security.sign_in_throttle import SignInThrottle
from echo_ai.workspaces import service as workspaces


def token_settings(state: ServiceState) -> accounts.TokenSettings:
    auth = state.settings.auth
    return accounts.TokenSettings(
        signer=state.signer,
        refresh_ttl=timedelta(days=auth.refresh_token_days),
        access_ttl=timedelta(minutes=auth.access_token_minutes),
    )


async def check_credentials(
    data: Credentials,
    request: Request,
    session: AsyncSession,
    throttle: SignInThrottle,
    actor: Actor,
    *,
    keys: KeyRing,
    second_factor: str | None = None,
) -> User | AppError:
    """Check the credentials (and the second factor of an account with 2FA on: a current
    or recovery code), throttled per (account, address) with growing delays (429 raised;
    the service audits the attempt): the user, or the refusal to answer with. A missing
    or wrong second factor counts as a failed guess like a wrong password. Returned, not
    raised, so that the request's transaction commits the failed attempt's audit event."""
    client = client_ip(request)
    await throttle.admit(data.email, client)
    user = await workspaces.sign_in(
        session, data, actor=actor, keys=keys, second_factor=second_factor
    )
    if user is None or isinstance(user, AppError):
        await throttle.failed(data.email, client)
        return accounts.InvalidCredentials() if user is None else user
    await throttle.succeeded(data.email, client)
    return user


def device(request: Request) -> tuple[str | None, str | None]:
    """The user agent and address of a request: a session's device and latest place."""
    return request.headers.get("user-agent"), client_ip(request)


async def open_browser_session(
    response: Response,
    session: AsyncSession,
    state: ServiceState,
    user: User,
    request: Request,
) -> str:
    """Start a browser session for ``user``: the session cookie (a refresh token of a new
    family) and the CSRF token bound to it, set on ``response``; returns the CSRF token."""
    family_id = uuid.uuid4()
    user_agent, ip = device(request)
    pair = await accounts.issue_tokens(
        session,
        user,
        tokens=token_settings(state),
        family_id=family_id,
        user_agent=user_agent,
        ip=ip,
    )
    csrf_token = issue_csrf_token(str(family_id), state.keys.csrf_secret)
    set_session_cookies(response, state.settings, pair.refresh_token, csrf_token)
    return csrf_token
