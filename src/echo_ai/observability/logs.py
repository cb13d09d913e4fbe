"""Structured logs: structlog for our own events, the standard library routed through it.

Every line (ours, uvicorn's, Celery's, SQLAlchemy's) is rendered by one
``structlog.stdlib.ProcessorFormatter`` on one handler of the root logger, so with
``log_format=json`` every line on stderr is one JSON object with ``timestamp`` (ISO 8601,
UTC), ``level``, ``logger``, ``event`` and the ids bound in the current context
(``request_id``, ``workspace_id``, ``experiment_id``, ``batch_run_id``...).

Ids are bound with :func:`bind_context` or :func:`bound_context` (``structlog.contextvars``,
so they follow the request's task and any task it creates). To carry them into a Celery
task, send :func:`log_context` along with the task's arguments and re-bind them with
``bound_context(**ids)`` in the worker.

The access log's lines never show the secrets of mailed links: the values of the query
parameters of :data:`SECRET_QUERY_PARAMETERS` (``/reset-password?token=...``, an export's
``download?token=...``) and the token of an invitation's path read ``[redacted]``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode

import structlog
from structlog.contextvars import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
)
from structlog.typing import Processor

from echo_ai.config import Settings

_OUR_HANDLER = "_echo_ai_handler"
_TAKEN_OVER = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "gunicorn.error")
"""Loggers that servers give their own handlers: ours replaces them (no double lines)."""
_CHATTY = ("httpx", "httpcore")
"""One INFO line per HTTP call (every LLM call): shown at DEBUG only."""


REDACTED = "[redacted]"
SECRET_QUERY_PARAMETERS = frozenset({"token", "code", "key", "secret", "password"})
"""Query parameters whose values are secrets (the single-use tokens of mailed links, and
any code or key a client might put in a URL): the access log shows them as
:data:`REDACTED`."""
_SECRET_PATH = re.compile(r"^(/invitations/)[^/]+")
"""The page path that carries a secret of its own: an invitation's link,
``/invitations/{token}`` (the API's ``/v1/invitations/...`` hold none)."""


def redact_target(target: str) -> str:
    """``target`` (a path with its query string) with the secrets of
    :data:`SECRET_QUERY_PARAMETERS` and of invitation links replaced by :data:`REDACTED`."""
    path, mark, query = target.partition("?")
    path = _SECRET_PATH.sub(lambda found: found.group(1) + REDACTED, path)
    if not mark:
        return path
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in SECRET_QUERY_PARAMETERS for name, _ in pairs):
        return f"{path}?{query}"
    hidden = [
        (name, REDACTED if name.lower() in SECRET_QUERY_PARAMETERS else value)
        for name, value in pairs
    ]
    return f"{path}?{urlencode(hidden, safe='[]/')}"


class _AccessLogSecretsHidden(logging.Filter):
    """Rewrites uvicorn's access lines (``'%s - "%s %s HTTP/%s" %d'``: the third argument
    is the path with its query) with :func:`redact_target`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) >= 3:
            target = args[2]
            if isinstance(target, str):
                record.args = (*args[:2], redact_target(target), *args[3:])
        return True


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test capture swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def configure_logging(settings: Settings) -> Callable[[], None]:
    """Route all logging through structlog at ``settings.observability.log_level``.

    Idempotent: calling it again replaces our handler (and renderer) instead of adding a
    second one; handlers that others put on the root logger (pytest's) are kept.
    ``httpx``/``httpcore`` (a line per HTTP call) log at WARNING unless the level is DEBUG.
    Uvicorn's and Celery's own handlers are removed so their lines go through ours: call
    this after the server configured its logging (the API lifespan does), or start
    uvicorn with ``log_config=None``.

    Returns a function that puts back the configuration found before the call (the API
    lifespan calls it at shutdown, so apps started one after another in tests leave no
    logging set-up behind); ignoring it is fine for a process-long configuration.
    """
    restore = _snapshot()
    observability = settings.observability
    level = logging.getLevelNamesMapping()[observability.log_level]
    shared = _shared_processors()
    renderer: Processor
    if observability.log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        # Tracebacks as structured data, without local variables (they may hold secrets).
        tracebacks = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        shared = [*shared, structlog.processors.ExceptionRenderer(tracebacks)]
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    setattr(handler, _OUR_HANDLER, True)
    handler.addFilter(_AccessLogSecretsHidden())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OUR_HANDLER, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(
            level if level <= logging.DEBUG else max(level, logging.WARNING)
        )
    for name in _TAKEN_OVER:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
        server_logger.setLevel(logging.NOTSET)  # our level, not one a server set earlier
    return restore


def _snapshot() -> Callable[[], None]:
    """What :func:`configure_logging` changes, and a function that puts it back."""
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    loggers = {
        name: (list(logger.handlers), logger.level, logger.propagate)
        for name in (*_CHATTY, *_TAKEN_OVER)
        for logger in [logging.getLogger(name)]
    }

    def restore() -> None:
        structlog.configure(**structlog_config)
        root.handlers[:] = root_state[0]
        root.setLevel(root_state[1])
        for name, (handlers, level, propagate) in loggers.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate

    return restore


def _as_strings(ids: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in ids.items() if value is not None}


def bind_context(**ids: object) -> None:
    """Add ids (stringified; ``None`` skipped) to every log line of the current context."""
    bind_contextvars(**_as_strings(ids))


def log_context() -> dict[str, str]:
    """The ids bound in the current context, as plain strings (to send to a Celery task)."""
    return {key: str(value) for key, value in get_contextvars().items()}


@contextmanager
def bound_context(**ids: object) -> Iterator[None]:
    """Bind ids for the ``with`` block; on exit each key gets its previous value back."""
    with bound_contextvars(**_as_strings(ids)):
        yield


@contextmanager
def isolated_context(**ids: object) -> Iterator[None]:
    """Bind ids for the block and, on exit, restore the whole context as it was: whatever
    the block bound (a request's ``workspace_id``) does not leak into the next one."""
    before: dict[str, Any] = get_contextvars()
    bind_context(**ids)
    try:
        yield
    finally:
        clear_contextvars()
        bind_contextvars(**before)
