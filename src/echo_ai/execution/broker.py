"""Which batches have chunks waiting in the broker (production mode, Redis).

A batch whose chunks wait in a deep queue shows no sign of life in the database (no
worker has started them), yet it is not stalled: sending it again would only lengthen
the queue and, once both copies run, pay for some calls twice. So the broker's side is
recorded next to the queue, per batch, at the cost of two commands per chunk:

- the executor adds ``(batch, chunk)`` to the batch's set ``echo-ai:queued:<batch>``
  before it sends the chunk (and takes it off again if the send fails);
- a worker takes it off once its claim of the batch has committed (from then on the
  batch's lease says that it runs; see :mod:`echo_ai.runs.leases`); a chunk retried
  later is added again before its retry is sent.

:meth:`QueuedChunks.waiting` answers for a list of batches in one round trip, whatever
the length of the queue. The marks live in the broker's own Redis database, so they are
lost together with the queue (a Redis without persistence restarting, ``FLUSHDB``);
marks left behind with no message at all in the broker (the queue purged by hand) are
ignored: when the queue and the set of messages delivered but not acknowledged are both
empty, nothing waits. Each set expires a week after its last mark, in any case.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence

import redis

from echo_ai.observability import CELERY_QUEUE_LISTS

MARK_TTL_SECONDS = 7 * 24 * 3600

UNACKED_KEY = "unacked"
"""Kombu's Redis transport keeps the messages delivered to a worker and not yet
acknowledged (running, reserved, or waiting for a retry's countdown) in this hash."""


def queued_key(batch_run_id: str | uuid.UUID) -> str:
    return f"echo-ai:queued:{batch_run_id}"


class QueuedChunks:
    """The marks of chunks sent to the broker and not yet started by a worker."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> QueuedChunks:
        return cls(redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5))

    def mark(self, chunks: Iterable[tuple[str, int]]) -> None:
        """Note chunks about to be sent: ``(batch_run_id, chunk)`` pairs."""
        by_batch: dict[str, list[int]] = {}
        for batch_run_id, chunk in chunks:
            by_batch.setdefault(batch_run_id, []).append(chunk)
        if not by_batch:
            return
        with self.client.pipeline(transaction=False) as pipe:
            for batch_run_id, numbers in by_batch.items():
                pipe.sadd(queued_key(batch_run_id), *numbers)
                pipe.expire(queued_key(batch_run_id), MARK_TTL_SECONDS)
            pipe.execute()

    def unmark(self, batch_run_id: str | uuid.UUID, chunk: int) -> None:
        """The chunk no longer waits: a worker has claimed it (or it was never sent)."""
        self.client.srem(queued_key(batch_run_id), chunk)

    def waiting_now(self, batch_run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """The batches among these with a chunk waiting in the broker (one round trip)."""
        if not batch_run_ids:
            return set()
        with self.client.pipeline(transaction=False) as pipe:
            for name in CELERY_QUEUE_LISTS:
                pipe.llen(name)
            pipe.hlen(UNACKED_KEY)
            for batch_run_id in batch_run_ids:
                pipe.scard(queued_key(batch_run_id))
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
