"""Rendering and queueing mails: :func:`enqueue` renders a template (plain text and HTML,
Jinja2, the HTML autoescaped) and adds an :class:`~echo_ai.mail.models.OutboundMail` row
in the caller's transaction. Nothing is sent here: a request never waits on SMTP. Once the
transaction commits, the process's listeners are told (:func:`on_enqueue`: the API hands
the sending to its background jobs, a worker in production mode) and the scheduler's tick
sends what is still due (:func:`echo_ai.mail.delivery.deliver_due`).

Links in mails start with :func:`base_url`: ``server.public_url`` when set, otherwise
``http://<server.host>:<server.port>`` (``echo-ai serve --host/--port`` set them; right for
a local server, ``localhost`` when it listens on every interface; a server that others
reach must set ``ECHO_AI_SERVER__PUBLIC_URL``). Mails are built from settings, never
from a request's ``Host`` header, which a client controls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from echo_ai.config import Settings
from echo_ai.db import after_commit, utcnow
from echo_ai.mail.models import MailStatus, OutboundMail

SUBJECTS: Mapping[str, str] = {
    "verify_email": "Confirm your e-mail address for Echo AI",
    "reset_password": "Reset your Echo AI password",
    "change_email": "Confirm your new e-mail address for Echo AI",
    "invitation": "{inviter} invites you to {workspace} on Echo AI",
    "notice": "Your Echo AI account changed: {change}",
    "alert": "Echo AI alert: {rule}, {experiment} (run {round})",
}
"""The kinds of mail (each has ``<kind>.txt`` and ``<kind>.html`` templates) and their
subjects (``str.format`` with the context)."""


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("echo_ai.mail", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def base_url(settings: Settings) -> str:
    """Where the links in mails point (see the module's description)."""
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (every interface: say localhost)
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def render(kind: str, context: Mapping[str, Any]) -> Rendered:
    """The subject, text and HTML of a mail of this kind; ``KeyError`` for an unknown kind."""
    subject = SUBJECTS[kind].format_map(context)
    subject = " ".join(subject.split())[:300]  # one line: no header injection
    environment = _environment()
    values = {"base_url": "", **context}
    return Rendered(
        subject=subject,
        text=environment.get_template(f"{kind}.txt").render(values),
        html=environment.get_template(f"{kind}.html").render(values),
    )


_listeners: set[Callable[[], None]] = set()


def on_enqueue(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` after each commit that queued mail in this process (the API
    starts its ``deliver_mail`` background job); returns the function that unsubscribes
    it."""
    _listeners.add(listener)
    return lambda: _listeners.discard(listener)


async def _wake() -> None:
    for listener in list(_listeners):
        listener()


async def enqueue(
    session: AsyncSession,
    *,
    to: str,
    kind: str,
    context: Mapping[str, Any],
    settings: Settings | None = None,
    now: datetime | None = None,
) -> OutboundMail:
    """Render a mail and queue it in the caller's transaction (due at once). With
    ``settings``, ``base_url`` is added to the context."""
    values = dict(context)
    if settings is not None:
        values.setdefault("base_url", base_url(settings))
    rendered = render(kind, values)
    now = now or utcnow()
    mail = OutboundMail(
        to_address=to,
        kind=kind,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        status=MailStatus.QUEUED,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(mail)
    await session.flush()
    after_commit(session, _wake)
    return mail
