"""Dependencies shared by the routers, as ``Annotated`` aliases.

The request's session is one transaction: committed when the handler returns normally,
rolled back when it raises. Services only flush.

``SessionDep`` has ``scope="function"``: the commit happens when the handler (and the
response's serialisation) is done but *before* the response is sent, so a client never
sees a success for work that then fails to commit, and a follow-up request always sees
it. (FastAPI's default for ``yield`` dependencies is ``"request"``, which would commit
only after the response has left.) A consequence FastAPI enforces: a ``yield``
dependency with the default scope cannot depend on ``SessionDep``; give it
``scope="function"`` too, or make it a plain (non-``yield``) dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.api.state import ServiceState
from echo_ai.db import take_after_commit
from echo_ai.security.sign_in_throttle import SignInThrottle


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    async with state.runtime.session_factory() as session:
        async with session.begin():
            yield session
        # Jobs the use cases queued with db.after_commit start now, in the background.
        for job in take_after_commit(session):
            state.start_background(job.run(), finish=job.finish)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_sign_in_throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    return throttle


SignInThrottleDep = Annotated[SignInThrottle, Depends(get_sign_in_throttle)]
