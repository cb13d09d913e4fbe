"""A running app on a real socket: requests go over HTTP, as an outside client's would.

:class:`LiveServer` serves an app with uvicorn in a thread of its own (its own event
loop, the app's lifespan and in-process worker included) on a free port of 127.0.0.1.
The ``live_server`` fixture (``tests/conftest.py``) serves the test's ``app`` fixture on
the test's backend; ``http`` is a synchronous ``httpx.Client`` bound to it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from tests.kit import wait_until_sync


class LiveServer:
    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="live-server", daemon=True)
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as error:  # reported by start() or stop()
            self.error = error

    @property
    def url(self) -> str:
        sockets = self.server.servers[0].sockets
        host, port = sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()
        wait_until_sync(
            lambda: self.server.started or not self.thread.is_alive(),
            within=120,
            message=lambda: "the live server did not start",
        )
        if not self.server.started:
            raise RuntimeError(f"the live server failed to start: {self.error!r}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=120)
        if self.thread.is_alive():
            raise RuntimeError("the live server did not stop")


@contextmanager
def serving(app: FastAPI) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def http_client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
