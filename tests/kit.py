"""The shared test kit: users and teams over HTTP, waiting on conditions, clocks tests drive.

Tests never sleep a fixed time hoping something happened: they wait for the condition
itself, with a deadline (:func:`wait_until`), or drive the code's clock (:class:`ManualClock`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from echo_ai.auth.models import User
from echo_ai.db import transaction
from echo_ai.execution.runtime import Runtime
from echo_ai.workspaces.models import Membership, Role

PASSWORD = "correct horse battery staple"

POLL_SECONDS = 0.02
"""How often a waiting test re-checks its condition."""

FINISHED = ("completed", "partial", "failed", "cancelled")


def app_runtime(app: FastAPI) -> Runtime:
    """The runtime (database, providers, runner, executor) of a started app."""
    runtime: Runtime = app.state.service.runtime
    return runtime


# --- waiting on conditions ------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    *,
    within: float = 30.0,
    message: str | Callable[[], str] = "the condition did not hold",
) -> None:
    """Wait until ``predicate()`` (a function or a coroutine function) is true.

    The deadline is generous on purpose: it only bounds a test that would otherwise hang,
    a passing test returns as soon as the condition holds.
    """
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{message() if callable(message) else message} (after {within} s)"
            )
        await asyncio.sleep(POLL_SECONDS)


def wait_until_sync(
    predicate: Callable[[], bool],
    *,
    within: float = 30.0,
    message: str | Callable[[], str] = "the condition did not hold",
) -> None:
    """:func:`wait_until` for code outside an event loop (threads, subprocesses)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{message() if callable(message) else message} (after {within} s)"
            )
        time.sleep(POLL_SECONDS)


# --- simulations ----------------------------------------------------------------------

_P = ParamSpec("_P")
_R = TypeVar("_R")


def untraced(test: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a simulation test (the same few functions thousands of times over, to measure
    a coverage or a false-alarm rate) without the coverage tracer in its thread.

    Under ``./dev test``'s coverage (line and branch, traced in C) such loops ran two to
    three times slower than without it, marking nothing new: the functions they repeat
    are tested one by one, traced, by the other tests (a simulation that is the only test
    of a function, such as the vectorised ``analysis.sampling.simulate``, stays traced:
    check the coverage report when adding one). Only a plain (sync) test function can be
    wrapped, and only its own thread goes untraced; without coverage it changes nothing.
    """
    if inspect.iscoroutinefunction(test):
        raise TypeError("untraced wraps a plain (sync) test function")

    @functools.wraps(test)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        # The tracer is restored by sys.settrace from this frame, which it saw start:
        # coverage's C tracer takes over again at the next call, its frame stack intact.
        tracer = sys.gettrace()
        sys.settrace(None)
        try:
            return test(*args, **kwargs)
        finally:
            sys.settrace(tracer)

    return run


# --- clocks ---------------------------------------------------------------------------


class ManualClock:
    """A :class:`echo_ai.clock.Clock` whose time moves only when the test says so.

    ``sleep`` returns at once (after letting other tasks run) and moves only the sleeping
    task's own time forward: concurrent sleepers each read the time they were due to wake
    at, as if they had waited.
    """

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.slept: list[float] = []
        self._woke_at: ContextVar[float | None] = ContextVar(f"woke-at-{id(self)}", default=None)

    def monotonic(self) -> float:
        woke_at = self._woke_at.get()
        return self.now if woke_at is None else max(self.now, woke_at)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._woke_at.set(self.monotonic() + seconds)
        await asyncio.sleep(0)

    def time(self) -> float:
        """The wall clock moves with :meth:`monotonic` (from an arbitrary epoch)."""
        return self.monotonic()

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InstantClock:
    """Real time, except that a sleep returns at once (recording how long it was): for
    schedules kept elsewhere (Redis), which tests read back instead of waiting for them."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)

    def time(self) -> float:
        return time.time()


# --- users, keys and teams over HTTP --------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> None:
    response = await client.post(
        "/auth/register", json={"email": email, "password": password, "accept_terms": True}
    )
    assert response.status_code == 201, response.text


async def login_response(
    client: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A login attempt, as answered (successful or not)."""
    return await client.post(
        "/auth/login", json={"email": email, "password": password}, headers=headers
    )


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """The token response of a successful login."""
    response = await login_response(client, email, password)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def register_and_login(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, str]:
    """A new user's ``Authorization`` headers."""
    await register(client, email, password)
    return bearer((await login(client, email, password))["access_token"])


async def api_key(
    client: httpx.AsyncClient, headers: dict[str, str], scopes: list[str]
) -> dict[str, str]:
    """``Authorization`` headers with a new API key of these scopes."""
    response = await client.post(
        "/v1/api-keys", headers=headers, json={"name": "k", "scopes": scopes}
    )
    assert response.status_code == 201, response.text
    return bearer(response.json()["key"])


@dataclass
class Team:
    workspace_id: str
    as_: dict[str, dict[str, str]] = field(default_factory=dict)
    """Headers of each user (by role name), with ``X-Workspace-ID`` of the team."""
    ids: dict[str, str] = field(default_factory=dict)
    """User ids by role name."""

    def headers(self, user: dict[str, str]) -> dict[str, str]:
        return {**user, "X-Workspace-ID": self.workspace_id}


async def invite(
    client: httpx.AsyncClient, headers: dict[str, str], email: str, role: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/invitations", headers=headers, json={"email": email, "role": role}
    )
    assert response.status_code == 201, response.text
    invitation: dict[str, Any] = response.json()
    return invitation


async def create_team(client: httpx.AsyncClient, roles: tuple[str, ...] | list[str]) -> Team:
    """An owner's team workspace "Acme" joined, through invitations, by one user per role
    (``{role}@example.com``; the owner is ``owner@example.com``)."""
    owner = await register_and_login(client, "owner@example.com")
    created = await client.post("/v1/workspaces", headers=owner, json={"name": " Acme "})
    assert created.status_code == 201
    assert created.json()["name"] == "Acme" and created.json()["role"] == "owner"
    result = Team(workspace_id=created.json()["id"])
    result.as_["owner"] = result.headers(owner)
    for role in roles:
        # Invited in capitals: addresses are compared case-insensitively.
        invitation = await invite(client, result.as_["owner"], f"{role.upper()}@Example.com", role)
        user = await register_and_login(client, f"{role}@example.com")
        accepted = await client.post(
            "/v1/invitations/accept", headers=user, json={"token": invitation["token"]}
        )
        assert accepted.status_code == 201, accepted.text
        assert (accepted.json()["id"], accepted.json()["role"]) == (result.workspace_id, role)
        result.as_[role] = result.headers(user)
    listed = await client.get("/v1/members", headers=result.as_["owner"])
    assert listed.status_code == 200
    result.ids = {member["role"]: member["user_id"] for member in listed.json()}
    assert sorted(result.ids) == sorted(["owner", *roles])
    return result


async def personal_viewer(
    client: httpx.AsyncClient, runtime: Runtime, owner_email: str, email: str = "bob@example.com"
) -> dict[str, str]:
    """A new user added to the owner's personal workspace as a viewer: their headers, with
    that workspace's ``X-Workspace-Id``."""
    user = await register_and_login(client, email)
    async with transaction(runtime.session_factory) as session:
        owner_id = await session.scalar(select(User.id).where(User.email == owner_email))
        workspace_id = await session.scalar(
            select(Membership.workspace_id).where(Membership.user_id == owner_id)
        )
        user_id = await session.scalar(select(User.id).where(User.email == email))
        assert workspace_id is not None and user_id is not None
        session.add(Membership(workspace_id=workspace_id, user_id=user_id, role=Role.VIEWER))
    return {**user, "X-Workspace-Id": str(workspace_id)}


# --- experiments over HTTP ------------------------------------------------------------


async def wait_finished(
    client: httpx.AsyncClient,
    experiment_id: str,
    headers: dict[str, str],
    within: float = 60.0,
) -> dict[str, Any]:
    """The experiment's detail once it has finished (completed, failed or cancelled)."""
    url = f"/v1/experiments/{experiment_id}"
    detail: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal detail
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        detail = response.json()
        return detail["status"] in FINISHED

    await wait_until(
        finished, within=within, message=lambda: f"the experiment did not finish: {detail}"
    )
    return detail


async def wait_judged(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    experiment_id: str,
    within: float = 60.0,
) -> dict[str, Any]:
    """The experiment's last sentiment judging once it has ended (no longer queued or
    running)."""
    url = f"/v1/experiments/{experiment_id}/sentiment-judge"
    judging: dict[str, Any] = {}

    async def ended() -> bool:
        nonlocal judging
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        judging = response.json()
        return judging["status"] not in ("queued", "running")

    await wait_until(ended, within=within, message=lambda: f"the judging did not end: {judging}")
    return judging


class ScriptedResolver:
    """The standard library's resolver for one name answering each lookup from a script
    (a DNS rebinding: public to the check, private a moment later); other names as
    usual. Counts the lookups of the name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> None:
        self.name = name
        self.answers = answers
        self.lookups = 0
        real = socket.getaddrinfo

        def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> object:
            if host != name:
                return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
            answer = self.answers[min(self.lookups, len(self.answers) - 1)]
            self.lookups += 1
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port or 0))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
