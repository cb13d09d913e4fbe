"""Holds this process's leases on the batches it runs (see :mod:`echo_ai.runs.leases`).

While any chunk of a batch runs here, one renewal task per batch moves the lease's clock
every quarter of the TTL, even when no iteration is stored for a while (a slow vendor):
a resume elsewhere keeps refusing, and the scheduler never takes the batch for stalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.db import transaction, utcnow
from echo_ai.runs import leases

log = logging.getLogger(__name__)


@dataclass
class _Held:
    holders: int = 0
    release: bool = False
    """Give the lease back when the last hold ends (one of the holds asked for it)."""
    renewing: bool = False
    """In a renewal's transaction: let it finish rather than cancel it mid-way."""
    stopping: bool = False
    task: asyncio.Task[None] | None = None


@dataclass
class LeaseKeeper:
    session_factory: async_sessionmaker[AsyncSession]
    ttl: timedelta
    """A lease not renewed for this long has lapsed (``worker.lease_seconds``)."""
    owner: str = field(default_factory=leases.new_owner)
    """This process's name on its leases (``host:pid:nonce``)."""
    clock: Clock = SYSTEM_CLOCK
    """Spaces the renewals."""
    _held: dict[uuid.UUID, _Held] = field(init=False, default_factory=dict)

    @property
    def renew_every(self) -> float:
        return self.ttl.total_seconds() / leases.RENEWALS_PER_TTL

    async def acquire(self, batch_run_id: uuid.UUID) -> bool:
        """Take the batch's lease unless another process holds it: for an executor that
        runs a whole batch here (the in-process one), so two processes never both do."""
        async with transaction(self.session_factory) as session:
            return await leases.acquire(
                session, batch_run_id, owner=self.owner, now=utcnow(), ttl=self.ttl
            )

    @contextlib.asynccontextmanager
    async def hold(self, batch_run_id: uuid.UUID, *, release: bool = False) -> AsyncIterator[None]:
        """Renew the batch's lease while the body runs (nested holds share one renewal).

        With ``release``, the last hold to end gives the lease back: only for a process
        that runs the whole batch; chunks on Celery workers let it lapse instead (another
        worker may still be running one of the batch's chunks).
        """
        held = self._held.get(batch_run_id)
        if held is None:
            held = self._held[batch_run_id] = _Held()
            held.task = asyncio.create_task(self._renew(batch_run_id, held))
        held.holders += 1
        held.release = held.release or release
        try:
            yield
        finally:
            held.holders -= 1
            if held.holders == 0:
                del self._held[batch_run_id]
                await self._stop(held)
                if held.release:
                    await self._release(batch_run_id)

    async def _renew(self, batch_run_id: uuid.UUID, held: _Held) -> None:
        while not held.stopping:
            await self.clock.sleep(self.renew_every)
            held.renewing = True
            try:
                async with transaction(self.session_factory) as session:
                    await leases.renew(session, batch_run_id, owner=self.owner, now=utcnow())
            except Exception:  # the database briefly away: try again at the next turn
                log.warning("could not renew the lease of batch %s", batch_run_id, exc_info=True)
            finally:
                held.renewing = False

    @staticmethod
    async def _stop(held: _Held) -> None:
        held.stopping = True
        assert held.task is not None
        if not held.renewing:
            held.task.cancel()  # asleep between renewals
        await asyncio.gather(held.task, return_exceptions=True)

    async def _release(self, batch_run_id: uuid.UUID) -> None:
        try:
            async with transaction(self.session_factory) as session:
                await leases.release(session, batch_run_id, owner=self.owner)
        except Exception:  # it lapses by itself within one TTL
            log.warning("could not release the lease of batch %s", batch_run_id, exc_info=True)

    def close(self) -> None:
        """The process's runtime closes: its owner name is no longer in use here."""
        leases.close_owner(self.owner)
