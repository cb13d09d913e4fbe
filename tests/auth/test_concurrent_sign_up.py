"""Sign-ups of one address at the same moment, and what a database error leaves in logs."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from echo_ai.api.errors import log_unhandled
from echo_ai.auth.models import User
from echo_ai.auth.schemas import Registration
from echo_ai.config import Settings
from echo_ai.db import create_engine, create_session_factory, transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.privacy.audit import Actor
from echo_ai.workspaces import service as workspaces
from tests.kit import PASSWORD
from tests.live import LiveServer

pytestmark = pytest.mark.usefixtures("backend")

SIGN_UPS = 6


async def _accounts(settings: Settings, email: str) -> int:
    engine = create_engine(settings)
    try:
        async with transaction(create_session_factory(engine)) as session:
            return int(await session.scalar(select(func.count()).where(User.email == email)) or 0)
    finally:
        await engine.dispose()


async def test_parallel_sign_ups_of_one_address_all_get_the_usual_answer(
    live_server: LiveServer, settings: Settings
) -> None:
    email = "race@example.com"
    body = {"email": email, "password": PASSWORD, "accept_terms": True}
    start = threading.Barrier(SIGN_UPS)

    def sign_up(_: int) -> httpx.Response:
        with httpx.Client(base_url=live_server.url, timeout=60) as client:
            start.wait()
            return client.post("/auth/register", json=body)

    with ThreadPoolExecutor(SIGN_UPS) as pool:
        responses = list(pool.map(sign_up, range(SIGN_UPS)))

    assert [r.status_code for r in responses] == [201] * SIGN_UPS
    assert len({r.text for r in responses}) == 1
    assert await _accounts(settings, email) == 1


async def test_a_sign_up_that_fails_later_leaves_no_account(
    runtime: Runtime, settings: Settings
) -> None:
    async def sign_up_then_fail() -> None:
        async with transaction(runtime.session_factory) as session:
            await workspaces.register(
                session,
                Registration(email="x@example.com", password=PASSWORD, accept_terms=True),
                actor=Actor(),
                settings=settings,
            )
            raise RuntimeError("a later step of the sign-up failed")

    with pytest.raises(RuntimeError):
        await sign_up_then_fail()
    # (The user row is not committed on its own, before the rest of the sign-up.)
    async with transaction(runtime.session_factory) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_a_logged_database_error_shows_no_values(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    email, password_hash = "secret-address@example.com", "$argon2id$v=19$not-for-logs"
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    try:
        async with transaction(factory) as session:
            session.add(User(email=email, password_hash=password_hash))
        with pytest.raises(IntegrityError) as raised:
            async with transaction(factory) as session:
                session.add(User(email=email, password_hash=password_hash))
    finally:
        await engine.dispose()

    with caplog.at_level(logging.ERROR):
        log_unhandled(raised.value, request_id="r1", path="/auth/register")
    logged = caplog.text
    assert "INSERT INTO users" in logged  # the statement is told...
    assert email not in logged and password_hash not in logged  # ...its values are not
    assert "parameters hidden" in logged
