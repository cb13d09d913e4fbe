"""Which batches have chunks waiting in the broker (production mode, Redis).

A batch whose chunks wait in a deep queue shows no sign of life in the database (no
worker has started them), yet it is not stalled: sending it again would only lengthen
the queue and, once both copies run, pay for some calls twice. So the broker's side is
recorded next to the queue, per batch, at the cost of two commands per chunk:

- the executor adds ``(batch, chunk)`` to the batch's sorted set
  ``echo-ai:queued-at:<batch>``, scored by the time it is sent, before it sends the chunk
  (and takes it off again if the send fails);
- a worker takes it off once its claim of the batch has committed (from then on the
  batch's lease says that it runs; see :mod:`echo_ai.runs.leases`); a chunk retried
  later is added again, with the new time, before its retry is sent.

:meth:`QueuedChunks.waiting` answers for a list of batches in one round trip, whatever
the length of the queue. A mark can outlive its message: a process killed between the
mark and the send, a retry whose send failed, a queue purged by hand, a Redis without
persistence restarting. So a mark counts for no longer than the broker's visibility
timeout (``worker.visibility_timeout_seconds``; the set expires then too), by which time
a message delivered and not acknowledged would have been delivered again; and when the
queue and the set of messages delivered but not acknowledged are both empty, nothing
waits. A chunk that has waited in the queue itself for longer than that counts as lost:
its batch is sent again once stalled, and only its missing iterations run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence

import redis

from echo_ai.clock import SYSTEM_CLOCK, Clock
from echo_ai.config import WorkerSettings
from echo_ai.observability import CELERY_QUEUE_LISTS

DEFAULT_MARK_SECONDS: float = WorkerSettings().visibility_timeout_seconds
"""How long a mark counts when not told otherwise: the default visibility timeout."""

UNACKED_KEY = "unacked"
"""Kombu's Redis transport keeps the messages delivered to a worker and not yet
acknowledged (running, reserved, or waiting for a retry's countdown) in this hash."""


def queued_key(batch_run_id: str | uuid.UUID) -> str:
    return f"echo-ai:queued-at:{batch_run_id}"


class QueuedChunks:
    """The marks of chunks sent to the broker and not yet started by a worker."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        mark_seconds: float = DEFAULT_MARK_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.client = client
        self.mark_seconds = mark_seconds
        """How long a mark counts: the broker's visibility timeout."""
        self.clock = clock
        """Dates the marks (its wall-clock time, comparable between processes)."""

    @classmethod
    def from_url(cls, url: str, *, mark_seconds: float = DEFAULT_MARK_SECONDS) -> QueuedChunks:
        return cls(
            redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5),
            mark_seconds=mark_seconds,
        )

    def mark(self, chunks: Iterable[tuple[str, int]]) -> None:
        """Note chunks about to be sent: ``(batch_run_id, chunk)`` pairs."""
        by_batch: dict[str, list[int]] = {}
        for batch_run_id, chunk in chunks:
            by_batch.setdefault(batch_run_id, []).append(chunk)
        if not by_batch:
            return
        now = self.clock.time()
        with self.client.pipeline(transaction=False) as pipe:
            for batch_run_id, numbers in by_batch.items():
                pipe.zadd(queued_key(batch_run_id), dict.fromkeys(map(str, numbers), now))
                pipe.expire(queued_key(batch_run_id), max(1, int(self.mark_seconds)))
            pipe.execute()

    def unmark(self, batch_run_id: str | uuid.UUID, chunk: int) -> None:
        """The chunk no longer waits: a worker has claimed it (or it was never sent)."""
        self.client.zrem(queued_key(batch_run_id), str(chunk))

    def waiting_now(self, batch_run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """The batches among these with a chunk waiting in the broker (one round trip):
        marked within the last :attr:`mark_seconds`."""
        if not batch_run_ids:
            return set()
        since = self.clock.time() - self.mark_seconds
        with self.client.pipeline(transaction=False) as pipe:
            for name in CELERY_QUEUE_LISTS:
                pipe.llen(name)
            pipe.hlen(UNACKED_KEY)
            for batch_run_id in batch_run_ids:
                pipe.zcount(queued_key(batch_run_id), f"({since}", "+inf")
            replies = pipe.execute()
        in_broker = len(CELERY_QUEUE_LISTS) + 1
        if not any(replies[:in_broker]):
            return set()  # no message anywhere in the broker: any mark left is stale
        counts = replies[in_broker:]
        return {
            batch_run_id for batch_run_id, count in zip(batch_run_ids, counts, strict=True) if count
        }

    async def waiting(self, batch_run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """:meth:`waiting_now`, off the event loop."""
        return await asyncio.to_thread(self.waiting_now, list(batch_run_ids))

    def close(self) -> None:
        self.client.close()
