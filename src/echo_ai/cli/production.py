"""Production processes: ``echo-ai api``, ``echo-ai worker`` and ``echo-ai beat``.

They run against a migrated database (``echo-ai migrate`` is its own step) and, for the
worker and beat, Redis (``REDIS_URL``) with ``ECHO_AI_EXECUTOR=celery``.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from echo_ai.cli.errors import friendly_errors

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from echo_ai.config import Settings
    from echo_ai.execution.runtime import Runtime
    from echo_ai.schedules.scheduler import DailyTask

BEAT_HEARTBEAT_FILE = Path("/tmp/echo-ai-beat.heartbeat")  # noqa: S108 - a health probe's file
"""Touched after every tick of ``echo-ai beat``; its age tells a health check it is alive."""
WORKER_NAME = "echo-ai@%h"


def _require_celery(settings: Settings, command: str) -> None:
    if settings.executor != "celery":
        raise typer.BadParameter(
            f"`echo-ai {command}` is for production mode: set ECHO_AI_EXECUTOR=celery and "
            "REDIS_URL (the embedded `echo-ai serve` runs batches and schedules itself)",
            param_hint="ECHO_AI_EXECUTOR",
        )


@friendly_errors
def api(
    host: Annotated[
        str,
        typer.Option(
            help="Interface to listen on; 0.0.0.0 is every interface (for a container). "
            "Outside one, use 127.0.0.1 behind a TLS reverse proxy."
        ),
    ] = "0.0.0.0",  # noqa: S104 - right in a container; the help and operations.md say so
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API processes.")] = 1,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies whose X-Forwarded-* headers are trusted.")
    ] = "127.0.0.1",
) -> None:
    """Run the web service (dashboard and JSON API) for production. It does not migrate the
    database (run `echo-ai migrate` first); only an embedded SQLite file in development is
    set up by itself.

    It listens on every interface by default, as a container needs (docker-compose.yml
    publishes the port on 127.0.0.1 only; see docs/operations.md). Outside a container,
    pass --host 127.0.0.1 and put a TLS reverse proxy in front. `echo-ai serve` listens on
    127.0.0.1 by default."""
    import uvicorn

    from echo_ai.config import get_settings
    from echo_ai.observability import configure_logging
    from echo_ai.security.keys import load_key_ring

    settings = get_settings()
    load_key_ring(settings)  # a weak or missing secret key: one clear line, before anything
    configure_logging(settings)
    uvicorn.run(
        "echo_ai.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=False,
        log_config=None,
    )


@friendly_errors
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=512, help="Processes (default: settings, else CPU count)."),
    ] = None,
    autoscale: Annotated[
        str | None, typer.Option(help="MAX,MIN processes, grown and shrunk with the load.")
    ] = None,
    ping: Annotated[
        bool, typer.Option("--ping", help="Exit 0 if this host's worker answers (health check).")
    ] = False,
) -> None:
    """Run a Celery worker: it runs the chunks of batch runs, sends the queued mail and
    prepares the data exports that the API hands over (chunks on one queue, mail and
    exports on another)."""
    from echo_ai.config import get_settings
    from echo_ai.execution.celery_app import BACKGROUND_QUEUE, QUEUE, configure

    settings = get_settings()
    _require_celery(settings, "worker")
    app = configure(settings)
    name = WORKER_NAME.replace("%h", socket.gethostname())
    if ping:
        replies = app.control.ping(destination=[name], timeout=5.0)
        if not replies:
            print(f"no answer from {name}", file=sys.stderr)
            raise typer.Exit(1)
        print(f"{name} answered", file=sys.stderr)
        return
    _start_observability(settings)
    autoscale = autoscale or settings.worker.autoscale
    queues = f"{QUEUE},{BACKGROUND_QUEUE}"
    argv = ["worker", "--loglevel", settings.observability.log_level, "-Q", queues, "-n", name]
    argv += ["--without-gossip", "--without-mingle"]  # no worker-to-worker chatter needed
    if autoscale:
        argv += ["--autoscale", autoscale]
    else:
        processes = concurrency or settings.worker.concurrency or os.cpu_count() or 1
        argv += ["--concurrency", str(processes)]
    app.worker_main(argv)


@friendly_errors
def beat() -> None:
    """Dispatch due recurring experiments and re-dispatch stalled batches, data exports and
    sentiment judgings,
    send the queued mail that is due (retries) and run the daily maintenance, every
    `ECHO_AI_WORKER__BEAT_INTERVAL_SECONDS` (60 s). Run one; a second one is harmless."""
    import asyncio
    import contextlib
    import signal

    from echo_ai import aio
    from echo_ai.alerts.jobs import ALERT_DAILY_TASKS, ALERT_TICK_TASKS
    from echo_ai.config import get_settings
    from echo_ai.execution.runtime import open_runtime
    from echo_ai.schedules.scheduler import Scheduler

    settings = get_settings()
    _require_celery(settings, "beat")

    from echo_ai.observability import configure_logging, configure_tracing

    configure_logging(settings)
    configure_tracing(settings)

    async def go() -> None:
        # SIGTERM (docker stop) ends the loop like Ctrl-C: the current tick is cancelled
        # and its transaction rolled back; the runtime closes cleanly.
        main = asyncio.current_task()
        assert main is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        async with open_runtime(settings) as runtime:
            print("echo-ai beat: dispatching schedules", file=sys.stderr)
            scheduler = Scheduler.of(
                runtime,
                tick_tasks=(*ALERT_TICK_TASKS, judging_sweep(runtime)),
                daily_tasks=ALERT_DAILY_TASKS,
            )
            await scheduler.run_forever(
                settings.worker.beat_interval_seconds, on_tick=BEAT_HEARTBEAT_FILE.touch
            )

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        aio.run(go())
    print("echo-ai beat: stopped", file=sys.stderr)


def judging_sweep(runtime: Runtime) -> DailyTask:
    """Beat's per-tick sweep of the sentiment judgings nobody has moved for
    ``worker.visibility_timeout_seconds``: sent to the workers again
    (:func:`echo_ai.experiments.sentiment_judge.stalled`)."""
    from datetime import timedelta

    from echo_ai.experiments import sentiment_judge
    from echo_ai.schedules.scheduler import DailyTask

    background = runtime.background
    assert background is not None, "beat runs in production mode (Celery)"

    async def sweep(
        session_factory: async_sessionmaker[AsyncSession], now: datetime, settings: Settings
    ) -> None:
        await sentiment_judge.redispatch(
            session_factory,
            background.judge_sentiment,
            now=now,
            after=timedelta(seconds=settings.worker.visibility_timeout_seconds),
        )

    return DailyTask("sentiment judgings", sweep)


def _start_observability(settings: Settings) -> None:
    """JSON logs, tracing and the metrics port of the worker's main process. Its prefork
    children count in files under ``PROMETHEUS_MULTIPROC_DIR`` that the port merges."""
    from echo_ai.observability import configure_logging, configure_tracing, start_metrics_server
    from echo_ai.observability.server import MULTIPROCESS_ENV

    configure_logging(settings)
    configure_tracing(settings)
    if settings.observability.metrics_port is None:
        return
    directory = os.environ.get(MULTIPROCESS_ENV)
    if not directory:
        raise typer.BadParameter(
            f"a worker's metrics port needs {MULTIPROCESS_ENV} (an empty directory): its "
            "processes count in files there",
            param_hint=MULTIPROCESS_ENV,
        )
    for stale in Path(directory).glob("*.db"):  # counts of an earlier run
        stale.unlink()
    start_metrics_server(settings)


def register(app: typer.Typer) -> None:
    app.command("api")(api)
    app.command("worker")(worker)
    app.command("beat")(beat)
