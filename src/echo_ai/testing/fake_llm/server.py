"""The fake LLM server: generic request handling, with each vendor's format in a wire module.

The core routes a POST to the wire module that owns its path, applies the configured
latency and outcome (answer, error, truncated body, stall), and lets the wire module shape
the JSON. Adding a vendor means adding a wire module, not touching this file's logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from echo_ai.providers.base import Citation
from echo_ai.providers.synthetic import SyntheticAnswer, generate_answer
from echo_ai.testing.fake_llm import (
    anthropic_wire,
    gemini_wire,
    openai_wire,
    perplexity_wire,
)
from echo_ai.testing.fake_llm.config import OUTCOMES, FakeLLMConfig
from echo_ai.testing.fake_llm.wire_common import example_of


class WireModule(Protocol):
    """What every ``*_wire`` module exports (checked structurally by mypy)."""

    ROUTES: list[str]

    def model_from(self, body: dict[str, Any], path_params: dict[str, str]) -> str: ...

    def prompt_from(self, body: dict[str, Any]) -> str: ...

    def grounding_from(self, body: dict[str, Any]) -> bool: ...

    def schema_from(self, body: dict[str, Any]) -> dict[str, Any] | None: ...

    def success_body(
        self,
        body: dict[str, Any],
        path_params: dict[str, str],
        answer: SyntheticAnswer,
        *,
        model: str,
        searched: bool,
    ) -> dict[str, Any]: ...

    def error_body(self, status: int, message: str, *, kind: str) -> dict[str, Any]: ...


WIRE_MODULES: Final[tuple[WireModule, ...]] = (
    openai_wire,
    perplexity_wire,
    anthropic_wire,
    gemini_wire,
)

# status, wire error kind, message: messages follow the vendors' wording, because adapters
# (and errors.from_status) recognise an exhausted quota from the message text.
_ERRORS: Final[dict[str, tuple[int, str, str]]] = {
    "429": (429, "rate_limit", "Rate limit reached for requests. Please try again later."),
    "quota": (
        429,
        "quota",
        "You exceeded your current quota, please check your plan and billing details "
        "(insufficient_quota).",
    ),
    "500": (500, "server", "The server had an error while processing your request."),
    "503": (503, "server", "The service is temporarily unavailable. Please try again."),
    "529": (529, "overloaded", "Overloaded"),
    "400": (400, "invalid_request", "Invalid request: the request body was rejected."),
    "401": (401, "auth", "Incorrect API key provided."),
    "403": (403, "permission", "Your API key does not have permission to use this model."),
}


@dataclass
class ServerState:
    """Everything a request handler reads or updates; shared with :class:`FakeLLMServer`."""

    config: FakeLLMConfig
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    credentials: list[str | None] = field(default_factory=list)
    """The key each request carried (``Authorization``'s bearer token, Anthropic's
    ``x-api-key``, Gemini's ``x-goog-api-key``), in the order of :attr:`requests`."""
    rng: random.Random = field(default_factory=random.Random)
    stopping: asyncio.Event | None = None
    """Set when the server shuts down, so stalled requests end at once instead of hanging."""
    released: asyncio.Event | None = None
    """Set (and replaced) by :meth:`FakeLLMServer.release_stalled`: the requests stalled
    until then answer at once."""

    def reset(self, config: FakeLLMConfig | None = None) -> None:
        self.config = config if config is not None else FakeLLMConfig()
        self.requests.clear()
        self.credentials.clear()
        self.rng.seed(self.config.seed)


def create_app(config: FakeLLMConfig | None = None) -> Starlette:
    """A Starlette app serving every vendor's route; its state is ``app.state.fake``."""
    state = ServerState(config=config if config is not None else FakeLLMConfig())
    state.rng.seed(state.config.seed)
    routes = [
        Route(path, endpoint=_endpoint(wire, state), methods=["POST"])
        for wire in WIRE_MODULES
        for path in wire.ROUTES
    ]
    app = Starlette(routes=routes)
    app.state.fake = state
    return app


def _credential(request: Request) -> str | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        return authorization.removeprefix("Bearer ")
    return request.headers.get("x-api-key") or request.headers.get("x-goog-api-key")


def _endpoint(wire: WireModule, state: ServerState) -> Any:
    async def handle(request: Request) -> Response:
        return await _handle(wire, state, request)

    return handle


async def _handle(wire: WireModule, state: ServerState, request: Request) -> Response:
    path_params = {key: str(value) for key, value in request.path_params.items()}
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    index = len(state.requests)
    state.requests.append((request.url.path, body if isinstance(body, dict) else {}))
    state.credentials.append(_credential(request))
    if not isinstance(body, dict):
        error = wire.error_body(400, "Request body is not a JSON object.", kind="invalid_request")
        return _json(error, 400)
    config = state.config
    if config.bodies:
        return _json(config.bodies.pop(0))
    if config.latency_ms > 0:
        await asyncio.sleep(config.latency_ms / 1000.0)
    outcome = _choose_outcome(config, state.rng)
    if outcome in _ERRORS:
        return _error_response(wire, config, outcome)
    if outcome == "hang":
        await _stall(state, config.hang_seconds)
    grounding = wire.grounding_from(body)
    searched = grounding and outcome != "no_search"
    answer = generate_answer(
        wire.prompt_from(body),
        config.brands,
        rng=random.Random(f"{config.seed}:{index}"),  # noqa: S311 - simulation
        grounding=searched,
        domains=config.domains,
    )
    schema = wire.schema_from(body)
    if schema is not None:  # structured output: a JSON instance of the schema, as text
        answer = dataclasses.replace(
            answer, text=json.dumps(example_of(schema)), citations=(), sources=()
        )
    answer = _garbled(answer, config.garble)
    model = wire.model_from(body, path_params) + config.garble
    payload = wire.success_body(body, path_params, answer, model=model, searched=searched)
    if outcome == "malformed":
        encoded = json.dumps(payload)
        return Response(encoded[: len(encoded) // 2], media_type="application/json")
    return _json(payload)


def _json(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """JSON with non-ASCII escaped, as ``json.dumps`` writes it: any string can be sent,
    a lone surrogate too (``"\\ud800"``), which a UTF-8 body could not carry."""
    return Response(json.dumps(payload), status, headers, media_type="application/json")


def _garbled(answer: SyntheticAnswer, noise: str) -> SyntheticAnswer:
    """``noise`` at the end of every text (offsets into the answer stay right)."""
    if not noise:
        return answer

    def page(citation: Citation) -> Citation:
        return dataclasses.replace(
            citation, url=citation.url + noise, title=(citation.title or "") + noise
        )

    return dataclasses.replace(
        answer,
        text=answer.text + noise,
        citations=tuple(map(page, answer.citations)),
        sources=tuple(map(page, answer.sources)),
        search_queries=tuple(query + noise for query in answer.search_queries),
    )


def _choose_outcome(config: FakeLLMConfig, rng: random.Random) -> str:
    if config.script:
        forced = config.script.pop(0)
        if forced not in OUTCOMES:  # a script edited after construction skips validation
            raise ValueError(f"unknown script outcome {forced!r}; known: {sorted(OUTCOMES)}")
        return forced
    if config.quota_exhausted:
        return "quota"
    draw = rng.random()
    for outcome, rate in (
        ("hang", config.hang_rate),
        ("429", config.rate_limit_rate),
        ("5xx", config.error_rate),
        ("malformed", config.malformed_rate),
    ):
        if draw < rate:
            return rng.choice(("500", "503")) if outcome == "5xx" else outcome
        draw -= rate
    return "ok"


def _error_response(wire: WireModule, config: FakeLLMConfig, outcome: str) -> Response:
    status, kind, message = _ERRORS[outcome]
    headers = {"Retry-After": f"{config.retry_after_seconds:g}"} if outcome == "429" else None
    return _json(wire.error_body(status, message + config.garble, kind=kind), status, headers)


async def _stall(state: ServerState, seconds: float) -> None:
    if state.stopping is None or state.released is None:
        await asyncio.sleep(seconds)
        return
    ends = [asyncio.ensure_future(event.wait()) for event in (state.stopping, state.released)]
    try:
        await asyncio.wait(ends, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for end in ends:
            end.cancel()


class FakeLLMServer:
    """Runs the fake server with uvicorn in a background thread on a free local port.

    Usable as ``with FakeLLMServer() as server:`` or ``async with``; point an SDK at
    :attr:`base_url` (plus ``/v1`` for OpenAI-style clients). Change :attr:`config` between
    requests to provoke failures; inspect :attr:`requests` to see what clients sent.
    """

    def __init__(self, config: FakeLLMConfig | None = None, *, host: str = "127.0.0.1") -> None:
        self.app = create_app(config)
        self._state: ServerState = self.app.state.fake
        self.host = host
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config(self) -> FakeLLMConfig:
        return self._state.config

    @config.setter
    def config(self, value: FakeLLMConfig) -> None:
        self._state.config = value

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        return self._state.requests

    @property
    def credentials(self) -> list[str | None]:
        """The key each request carried, in the order of :attr:`requests`."""
        return self._state.credentials

    @property
    def request_count(self) -> int:
        return len(self._state.requests)

    def reset(self, config: FakeLLMConfig | None = None) -> None:
        """Fresh config (default unless given) and an empty request log."""
        self._state.reset(config)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FakeLLMServer is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        uv_config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="fake-llm-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("FakeLLMServer failed to start")
            time.sleep(0.01)

    def _run(self, sock: socket.socket) -> None:
        async def serve() -> None:
            assert self._server is not None
            self._loop = asyncio.get_running_loop()
            self._state.stopping = asyncio.Event()
            self._state.released = asyncio.Event()
            await self._server.serve(sockets=[sock])

        try:
            asyncio.run(serve())
        finally:
            sock.close()

    def release_stalled(self) -> None:
        """The requests stalled now (``hang_rate``) answer at once, as if their stall had
        ended; later ones stall again. A test's teardown calls it, so that the app under
        test need not wait out (or cancel) calls still hanging when it stops."""
        state = self._state

        def release() -> None:
            if state.released is not None:
                state.released.set()
                state.released = asyncio.Event()

        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already finished
                self._loop.call_soon_threadsafe(release)

    def stop(self) -> None:
        if self._thread is None or self._server is None:
            return
        stopping = self._state.stopping
        if self._loop is not None and stopping is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already finished
                self._loop.call_soon_threadsafe(stopping.set)
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
        self._thread = None
        self._server = None
        self._loop = None
        self._state.stopping = None
        self._state.released = None

    def __enter__(self) -> FakeLLMServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeLLMServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def main(host: str = "127.0.0.1", port: int = 8765, config: FakeLLMConfig | None = None) -> None:
    """Serve in the foreground until interrupted (the ``echo-ai fake-llm`` command)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
