"""Sending alerts to webhooks: signed POSTs, retried with back-off, every try logged.

Like the mail queue (:mod:`echo_ai.mail.delivery`): a due delivery is claimed in a short
transaction (compare-and-set on its ``attempts``; on PostgreSQL read ``FOR UPDATE SKIP
LOCKED``), its ``next_attempt_at`` moved past the request's timeout so that a process dying
mid-request leaves it to be tried again; the POST is made with no transaction open; its
outcome is stored with a row of the delivery log (:class:`~echo_ai.alerts.models.
DeliveryAttempt`: attempt, status code, error, time, when the next try is due).

- 2xx: sent.
- A network error, a timeout, 408, 429 or 5xx: tried again after ``webhook_first_retry_seconds``
  doubling with each try (at most 6 hours), or after the receiver's ``Retry-After`` when that
  is longer; given up after ``alerts.webhook_max_attempts`` tries.
- A host that does not resolve (now): tried again the same way.
- Anything else (a 4xx, a redirect, which is not followed, a URL that now resolves to a
  private address): given up at once.

The URL is checked against private networks again before each try (what a name resolves
to can change), and the request is sent to the address that was checked, the name kept
in the ``Host`` header and TLS's server name (:func:`echo_ai.security.outbound.vet_url`):
a name that resolves to a public address for the check and to a private one a moment
later (DNS rebinding) still reaches only the public one. Times come from the caller's
``now``: the scheduler's tick, or a test's clock.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from echo_ai.alerts import signing
from echo_ai.alerts.evaluation import change_line
from echo_ai.alerts.models import (
    Alert,
    AlertDelivery,
    AlertRule,
    Channel,
    DeliveryAttempt,
    DeliveryStatus,
    WebhookFormat,
)
from echo_ai.alerts.service import vetted_url
from echo_ai.config import Settings
from echo_ai.credentials.vault import Unreadable, Vault
from echo_ai.db import rows_changed, transaction, utcnow
from echo_ai.experiments.schemas import SYNTHETIC_NOTICE
from echo_ai.mail.compose import base_url
from echo_ai.runs.models import Experiment
from echo_ai.security.outbound import Unresolvable, UnsafeURL

log = logging.getLogger(__name__)

BATCH = 20
LONGEST_PAUSE = timedelta(hours=6)
LONGEST_RETRY_AFTER = timedelta(hours=24)
RETRIED_STATUSES = frozenset({408, 429})


def backoff(attempts: int, settings: Settings) -> timedelta:
    """The pause after the ``attempts``-th failed try: first, then doubling, at most 6 h."""
    first = timedelta(seconds=settings.alerts.webhook_first_retry_seconds)
    pause: timedelta = first * (2 ** min(max(attempts - 1, 0), 20))
    return min(pause, LONGEST_PAUSE)


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as a pause, at most a day."""
    if not value:
        return None
    value = value.strip()
    pause: timedelta | None
    if value.isdigit():
        pause = timedelta(seconds=int(value))
    else:
        try:
            pause = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return max(timedelta(0), min(pause, LONGEST_RETRY_AFTER))


def payload(
    alert: Alert,
    rule: AlertRule,
    experiment: Experiment,
    delivery_id: uuid.UUID,
    settings: Settings,
) -> dict[str, Any]:
    """The JSON a webhook receives (``webhook_format`` ``signed``); docs/alerts.md."""
    return {
        "type": "alert.fired",
        "alert_id": str(alert.id),
        "delivery_id": str(delivery_id),
        "created_at": alert.created_at.isoformat(),
        "workspace_id": str(alert.workspace_id),
        "rule": {"id": str(rule.id), "name": rule.name, "level": rule.level},
        "experiment": {
            "id": str(experiment.id),
            "name": experiment.name,
            "url": f"{base_url(settings)}/experiments/{experiment.id}/alerts",
        },
        "round": alert.round,
        "compared_with": list(alert.compared_with),
        "baseline": len(alert.compared_with) > 1 or rule.compare_with == "baseline",
        "tested": alert.tested,
        "synthetic": alert.synthetic,
        "synthetic_notice": SYNTHETIC_NOTICE if alert.synthetic else None,
        "changes": list(alert.changes),
    }


def slack_payload(
    alert: Alert, rule: AlertRule, experiment: Experiment, settings: Settings
) -> dict[str, Any]:
    """Slack's incoming-webhook JSON: ``text`` (the notification) and ``blocks``."""
    against = ", ".join(str(n) for n in alert.compared_with)
    url = f"{base_url(settings)}/experiments/{experiment.id}/alerts"
    title = f"{'[SYNTHETIC] ' if alert.synthetic else ''}Echo AI alert: {rule.name}"
    summary = f"{experiment.name}: run {alert.round} against run(s) {against}"
    lines = "\n".join(f"• {change_line(change)}" for change in alert.changes)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary}*\n{lines}"[:3000]}},
    ]
    if alert.synthetic:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": SYNTHETIC_NOTICE}]}
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (
                        f"{alert.tested} figures tested, FDR {rule.level * 100:g}% · <{url}|open>"
                    ),
                }
            ],
        }
    )
    return {"text": f"{title}: {summary}", "blocks": blocks}


@dataclass(frozen=True)
class _Claimed:
    delivery_id: uuid.UUID
    attempts: int
    url: str
    body: bytes
    secret: str


@dataclass
class Delivered:
    sent: list[uuid.UUID] = field(default_factory=list)
    retrying: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)


async def _claim(
    session: AsyncSession, now: datetime, settings: Settings, vault: Vault
) -> tuple[list[_Claimed], list[tuple[uuid.UUID, int, str]]]:
    """The due deliveries claimed, and those that cannot be sent at all (with why)."""
    due = list(
        await session.scalars(
            select(AlertDelivery)
            .where(
                AlertDelivery.status == DeliveryStatus.PENDING,
                AlertDelivery.channel == Channel.WEBHOOK,
                AlertDelivery.next_attempt_at <= now,
            )
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.created_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    lease = timedelta(seconds=settings.alerts.webhook_timeout_seconds + 60)
    claimed: list[_Claimed] = []
    broken: list[tuple[uuid.UUID, int, str]] = []
    for delivery in due:
        attempts = delivery.attempts + 1
        won = await rows_changed(
            session,
            update(AlertDelivery)
            .where(
                AlertDelivery.id == delivery.id,
                AlertDelivery.status == DeliveryStatus.PENDING,
                AlertDelivery.attempts == delivery.attempts,
            )
            .values(attempts=attempts, next_attempt_at=now + lease),
        )
        if won != 1:
            continue
        row = (
            await session.execute(
                select(Alert, AlertRule, Experiment)
                .join(AlertRule, AlertRule.id == Alert.rule_id)
                .join(Experiment, Experiment.id == Alert.experiment_id)
                .where(Alert.id == delivery.alert_id)
            )
        ).one()
        alert, rule, experiment = row
        if rule.webhook_secret is None or rule.webhook_url is None:
            broken.append((delivery.id, attempts, "the rule has no webhook any more"))
            continue
        try:
            secret = vault.decrypt(rule.webhook_secret)
        except Unreadable:
            broken.append((delivery.id, attempts, "the webhook secret cannot be decrypted"))
            continue
        if rule.webhook_format is WebhookFormat.SLACK:
            content = slack_payload(alert, rule, experiment, settings)
        else:
            content = payload(alert, rule, experiment, delivery.id, settings)
        body = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        claimed.append(_Claimed(delivery.id, attempts, rule.webhook_url, body, secret))
    return claimed, broken


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None
    retry: bool
    retry_after: timedelta | None = None

    @property
    def sent(self) -> bool:
        return self.error is None


async def _post(
    client: httpx.AsyncClient, item: _Claimed, now: datetime, settings: Settings
) -> _Outcome:
    try:
        vetted = await vetted_url(item.url, settings)
    except Unresolvable as unresolved:
        return _Outcome(None, str(unresolved), retry=True)
    except UnsafeURL as refused:
        return _Outcome(None, str(refused), retry=False)
    # To the address just checked, never to a second lookup of the name (DNS rebinding).
    url, named, extensions = vetted.request_parts()
    timestamp = int(now.timestamp())
    headers = signing.headers(item.secret, timestamp, item.body, str(item.delivery_id))
    try:
        response = await client.post(
            url,
            content=item.body,
            headers={**headers, **named},
            extensions=extensions,
            timeout=settings.alerts.webhook_timeout_seconds,
            follow_redirects=False,
        )
    except httpx.HTTPError as error:
        return _Outcome(None, f"{type(error).__name__}: {error}"[:2000], retry=True)
    code = response.status_code
    if 200 <= code < 300:
        return _Outcome(code, None, retry=False)
    retried = code >= 500 or code in RETRIED_STATUSES
    reason = response.reason_phrase or "error"
    return _Outcome(
        code,
        f"HTTP {code} {reason}",
        retry=retried,
        retry_after=retry_after(response.headers.get("retry-after"), now) if retried else None,
    )


async def _record(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    attempts: int,
    outcome: _Outcome,
    *,
    now: datetime,
    settings: Settings,
    delivered: Delivered,
) -> None:
    mine = update(AlertDelivery).where(
        AlertDelivery.id == delivery_id,
        AlertDelivery.status == DeliveryStatus.PENDING,
        AlertDelivery.attempts == attempts,
    )
    retry_at: datetime | None = None
    common = {"last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.sent:
        await rows_changed(
            session, mine.values(status=DeliveryStatus.SENT, finished_at=now, **common)
        )
        delivered.sent.append(delivery_id)
    elif outcome.retry and attempts < settings.alerts.webhook_max_attempts:
        pause = max(backoff(attempts, settings), outcome.retry_after or timedelta(0))
        retry_at = now + pause
        await rows_changed(session, mine.values(next_attempt_at=retry_at, **common))
        delivered.retrying.append(delivery_id)
        log.warning(
            "webhook delivery %s failed (attempt %d, next at %s): %s",
            delivery_id,
            attempts,
            retry_at.isoformat(timespec="seconds"),
            outcome.error,
        )
    else:
        await rows_changed(
            session, mine.values(status=DeliveryStatus.FAILED, finished_at=now, **common)
        )
        delivered.failed.append(delivery_id)
        log.error(
            "webhook delivery %s given up after %d attempt(s): %s",
            delivery_id,
            attempts,
            outcome.error,
        )
    session.add(
        DeliveryAttempt(
            delivery_id=delivery_id,
            attempt=attempts,
            at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            retry_at=retry_at,
        )
    )
    await session.flush()


async def deliver_due(
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    vault: Vault,
    *,
    now: datetime | None = None,
    client: httpx.AsyncClient | None = None,
) -> Delivered:
    """Send the webhook deliveries due at ``now`` (see the module)."""
    now = now or utcnow()
    delivered = Delivered()
    own = client is None
    # No connection is kept for another delivery: one to an address is not reused for
    # another name there (each request's TLS name is verified on its own connection), and
    # no proxy from the environment resolves the name again.
    http = client or httpx.AsyncClient(
        limits=httpx.Limits(max_keepalive_connections=0), trust_env=False
    )
    try:
        while True:
            async with transaction(session_factory) as session:
                claimed, broken = await _claim(session, now, settings, vault)
                for delivery_id, attempts, why in broken:
                    await _record(
                        session,
                        delivery_id,
                        attempts,
                        _Outcome(None, why, retry=False),
                        now=now,
                        settings=settings,
                        delivered=delivered,
                    )
            outcomes = [(item, await _post(http, item, now, settings)) for item in claimed]
            if outcomes:
                async with transaction(session_factory) as session:
                    for item, outcome in outcomes:
                        await _record(
                            session,
                            item.delivery_id,
                            item.attempts,
                            outcome,
                            now=now,
                            settings=settings,
                            delivered=delivered,
                        )
            if len(claimed) + len(broken) < BATCH:
                break
    finally:
        if own:
            await http.aclose()
    return delivered
