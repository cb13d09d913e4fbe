"""Sending the queued mails: :func:`deliver_due`, run by the scheduler's every tick
(``echo-ai serve``, or ``echo-ai beat`` in production) and right after a request queued
mail: by the mail loop of the API process in the embedded default (:class:`MailLoop`), by
a worker in production mode (the ``echo_ai.deliver_mail`` task).

A mail is claimed before it is sent, in a short transaction of its own: its ``attempts``
grows by one and its ``next_attempt_at`` moves to when a retry would be due, with a
conditional UPDATE (compare-and-set on the attempts read; on PostgreSQL the rows are read
``FOR UPDATE SKIP LOCKED``, so two processes take different mails, never one twice). It is
sent with no transaction open (SMTP may be slow; SQLite has one writer), and the outcome
is stored: ``sent``; or the error in ``last_error`` and a retry after an exponential
back-off (:func:`backoff`); or, after ``mail.max_attempts`` tries, ``failed`` (logged).
A sent or given-up mail's bodies (their links sign in or reset a password) are not kept:
``text_body`` becomes :data:`~echo_ai.mail.models.BODY_GONE`, ``html_body`` NULL (a mail
written to the outbox folder keeps its text in its ``.eml`` file, where ``echo-ai outbox
show`` reads it).
A process that dies while sending leaves the mail claimed: it is retried when its
back-off is over (a mail may then be sent twice, never lost).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.config import Settings
from echo_ai.db import rows_changed, transaction, utcnow
from echo_ai.mail import sender
from echo_ai.mail.models import BODY_GONE, MailStatus, OutboundMail

log = logging.getLogger(__name__)

BATCH = 20
"""Mails claimed (then sent) per transaction."""
MAX_BATCHES = 10
"""Batches per call: the rest waits for the next tick."""
FIRST_RETRY = timedelta(minutes=1)
LONGEST_PAUSE = timedelta(hours=6)


def backoff(attempts: int) -> timedelta:
    """The pause after the ``attempts``-th failed try: 1, 2, 4, 8... minutes, at most 6 h."""
    pause: timedelta = FIRST_RETRY * (2 ** min(max(attempts - 1, 0), 20))
    return min(pause, LONGEST_PAUSE)


_NO_BODY: dict[str, str | None] = {"text_body": BODY_GONE, "html_body": None}
"""What is left of a mail's bodies once it was sent or given up."""


@dataclass
class Delivered:
    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Mail ids, by outcome of this call."""


@dataclass(frozen=True)
class _Claimed:
    letter: sender.Letter
    attempts: int


async def _claim(session: AsyncSession, now: datetime, limit: int) -> list[_Claimed]:
    due = list(
        await session.scalars(
            select(OutboundMail)
            .where(OutboundMail.status == MailStatus.QUEUED, OutboundMail.next_attempt_at <= now)
            .order_by(OutboundMail.next_attempt_at, OutboundMail.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    claimed: list[_Claimed] = []
    for mail in due:
        attempts = mail.attempts + 1
        won = await rows_changed(
            session,
            update(OutboundMail)
            .where(
                OutboundMail.id == mail.id,
                OutboundMail.status == MailStatus.QUEUED,
                OutboundMail.attempts == mail.attempts,
            )
            .values(attempts=attempts, next_attempt_at=now + backoff(attempts)),
        )
        if won == 1:
            letter = sender.Letter(
                id=mail.id,
                to=mail.to_address,
                subject=mail.subject,
                text=mail.text_body,
                html=mail.html_body,
                created_at=mail.created_at,
            )
            claimed.append(_Claimed(letter, attempts))
    return claimed


async def _record(
    session: AsyncSession,
    claimed: _Claimed,
    error: str | None,
    *,
    now: datetime,
    settings: Settings,
    delivered: Delivered,
) -> None:
    mine = update(OutboundMail).where(
        OutboundMail.id == claimed.letter.id,
        OutboundMail.status == MailStatus.QUEUED,
        OutboundMail.attempts == claimed.attempts,
    )
    mail_id = str(claimed.letter.id)
    if error is None:
        await rows_changed(session, mine.values(status=MailStatus.SENT, sent_at=now, **_NO_BODY))
        delivered.sent.append(mail_id)
    elif claimed.attempts >= settings.mail.max_attempts:
        await rows_changed(
            session, mine.values(status=MailStatus.FAILED, last_error=error, **_NO_BODY)
        )
        log.error(
            "mail %s (%s) given up after %d attempts: %s",
            mail_id,
            claimed.letter.subject,
            claimed.attempts,
            error,
        )
        delivered.failed.append(mail_id)
    else:
        retry_at = now + backoff(claimed.attempts)
        await rows_changed(session, mine.values(last_error=error, next_attempt_at=retry_at))
        log.warning(
            "mail %s not sent (attempt %d of %d, next at %s): %s",
            mail_id,
            claimed.attempts,
            settings.mail.max_attempts,
            retry_at.isoformat(timespec="seconds"),
            error,
        )
        delivered.retrying.append(mail_id)


async def deliver_due(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime | None = None,
) -> Delivered:
    """Send the queued mails due at ``now`` (see the module's description)."""
    now = now or utcnow()
    delivered = Delivered()
    for _ in range(MAX_BATCHES):
        async with transaction(session_factory) as session:
            claimed = await _claim(session, now, BATCH)
        outcomes: list[tuple[_Claimed, str | None]] = []
        for item in claimed:
            try:
                await sender.send(item.letter, settings)
            except Exception as failure:  # any refusal or network error: retried later
                outcomes.append((item, f"{type(failure).__name__}: {failure}"[:2000]))
            else:
                outcomes.append((item, None))
        if outcomes:
            async with transaction(session_factory) as session:
                for item, error in outcomes:
                    await _record(
                        session, item, error, now=now, settings=settings, delivered=delivered
                    )
        if len(claimed) < BATCH:
            break
    return delivered


async def deliver_on_tick(
    session_factory: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
) -> None:
    """The scheduler's per-tick step: send what is due (first tries and retries)."""
    delivered = await deliver_due(session_factory, settings, now)
    if delivered.sent or delivered.retrying or delivered.failed:
        log.info(
            "mail: %d sent, %d to retry, %d given up",
            len(delivered.sent),
            len(delivered.retrying),
            len(delivered.failed),
        )


class MailLoop:
    """The embedded API process's sender: woken after each commit that queued mail in
    this process (:meth:`wake`, through :class:`echo_ai.api.background.InProcessJobs`), it
    sends what is due in the background, so a request never waits for SMTP. Wakes that
    come while it sends are folded into one more round. Retries are the scheduler tick's."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], settings: Settings
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Send what is due soon (the loop starts with its first wake)."""
        self._event.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._event.wait()
            self._event.clear()
            try:
                await deliver_due(self.session_factory, self.settings)
            except Exception:
                log.exception("sending the queued mail failed; the scheduler retries it")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
