"""A running app on a real socket: requests go over HTTP, as an outside client's would.

:class:`LiveServer` serves an app with uvicorn in a thread of its own (its own event
loop, the app's lifespan and in-process worker included) on a free port of 127.0.0.1.
The ``live_server`` fixture (``tests/conftest.py``) serves the test's ``app`` fixture on
the test's backend; ``http`` is a synchronous ``httpx.Client`` bound to it.

:class:`ServeProcess` runs the real ``echo-ai serve`` in a process of its own, for what
only a process shows: start-up on a fresh machine, file modes, ``kill -9``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(data_dir: Path) -> dict[str, str]:
    """The environment of a served site for tests and scripts: this machine's, without our
    settings, databases or vendor keys (the offline demo provider only), and with its own
    data directory."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ECHO_AI_")
        and key not in {"DATABASE_URL", "REDIS_URL"}
        and not key.endswith(("_API_KEY", "_BASE_URL"))
    }
    env["ECHO_AI_DATA_DIR"] = str(data_dir)
    return env


class ServeProcess:
    """``echo-ai serve`` in a process of its own with ``env``, started once uvicorn says
    so (imports and migrations take a while on a busy machine); its output collected."""

    def __init__(self, env: dict[str, str], *, cwd: Path, umask: int = -1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "echo_ai.cli", "serve", "--port", str(self.port)],
            env=env,
            cwd=cwd,  # no project .env is read
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            umask=umask,
        )
        self.lines: list[str] = []
        stdout = self.process.stdout
        assert stdout is not None
        self._reader = threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True)
        self._reader.start()
        wait_until_sync(
            lambda: (
                self.process.poll() is not None
                or any("Uvicorn running" in line for line in self.lines)
            ),
            within=120,
            message=lambda: f"serve did not start: {self.output}",
        )
        assert self.process.poll() is None, self.output

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines."""
        return [json.loads(line) for line in self.lines if line.startswith("{")]

    def kill(self) -> None:
        """``kill -9``, and reaped: its pid is then free, as after a real crash."""
        self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)

    def stop(self) -> None:
        """A clean stop (SIGTERM), once its output is all read."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self._reader.join(timeout=60)
