"""A local stand-in for the Stripe API, speaking its wire format, for tests and demos.

Requests are form-encoded (``metadata[workspace_id]=...``, ``line_items[0][price]=...``)
with ``Authorization: Bearer sk_...``; answers are JSON objects with ``object`` and
``id``; errors are ``{"error": {"type", "message", "code"}}`` with a 4xx/5xx status, as
Stripe sends them. Point the SDK at :attr:`FakeStripeServer.base_url` (the setting
``ECHO_AI_BILLING__STRIPE_API_BASE``).

A POST with an ``Idempotency-Key`` header is answered, when the key was seen before, with
the first answer again (same object, nothing made), or with a 400 ``idempotency_error``
when the parameters differ, as Stripe does.

Served: customers (create, retrieve), checkout sessions (create), billing portal sessions
(create), subscriptions (retrieve); and the hosted pages the sessions' URLs name
(``/checkout/<id>``, ``/portal/<id>``) as plain pages. Tests play Stripe's part with
:meth:`FakeStripeServer.complete_checkout` and :meth:`FakeStripeServer.set_status`, and
sign webhook bodies with :func:`signature_header` exactly as Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

_KEY = re.compile(r"([^\[\]]+)|\[([^\]]*)\]")


def signature_header(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` for a body: ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">``
    keyed with the endpoint's ``whsec_...`` secret."""
    ts = int(time.time()) if timestamp is None else timestamp
    signed = f"{ts}.".encode() + payload
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event_body(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """A webhook body as Stripe sends it (a snapshot ``event`` object)."""
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": obj},
        }
    ).encode()


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's nested form encoding back into dicts and lists."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = [name or index for name, index in _KEY.findall(key)]
        node: Any = result
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append({})
                if last:
                    node[index] = value
                else:
                    node = node[index]
                continue
            if last:
                node[part] = value
            else:
                following = parts[position + 1]
                node = node.setdefault(part, [] if following.isdigit() else {})
    return result


@dataclass
class Failure:
    status: int
    type: str
    message: str
    code: str | None = None


@dataclass
class FakeStripeState:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(method, path, decoded form) of every API request."""
    idempotent: dict[str, tuple[str, dict[str, Any], int, bytes]] = field(default_factory=dict)
    """Idempotency key -> (path, parameters, status, body) of the first answer."""
    failure: Failure | None = None
    """When set, every API request answers with it."""
    base_url: str = ""


def _error(status: int, kind: str, message: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": kind, "message": message}
    if code is not None:
        body["code"] = code
    return JSONResponse({"error": body}, status_code=status)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def create_app(state: FakeStripeState) -> Starlette:
    async def api(request: Request) -> Response:
        raw = (await request.body()).decode()
        params = decode_form(raw) if request.method == "POST" else dict(request.query_params)
        state.requests.append((request.method, request.url.path, params))
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer sk_"):
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        if state.failure is not None:
            failure = state.failure
            return _error(failure.status, failure.type, failure.message, failure.code)
        path = request.url.path
        handler = _route(request.method, path)
        if handler is None:
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({path}).")
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if key is not None and key in state.idempotent:
            first_path, first_params, status, body = state.idempotent[key]
            if (first_path, first_params) != (path, params):
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters"
                    " they were first used with.",
                )
            return Response(
                body,
                status_code=status,
                media_type="application/json",
                headers={"idempotent-replayed": "true"},
            )
        answer = handler(state, params, path.rsplit("/", 1)[-1])
        if key is not None and answer.status_code < 500:
            state.idempotent[key] = (path, params, answer.status_code, bytes(answer.body))
        return answer

    async def hosted(request: Request) -> Response:
        kind = "Checkout" if request.url.path.startswith("/checkout/") else "Customer Portal"
        return HTMLResponse(
            f"<!doctype html><html lang=en><title>Fake Stripe {kind}</title>"
            '<link rel="icon" href="data:,">'
            f"<h1>Fake Stripe {kind}</h1></html>"
        )

    return Starlette(
        routes=[
            Route("/v1/{path:path}", api, methods=["GET", "POST"]),
            Route("/checkout/{id}", hosted),
            Route("/portal/{id}", hosted),
        ]
    )


def _missing(name: str) -> JSONResponse:
    return _error(
        400, "invalid_request_error", f"Missing required param: {name}.", "parameter_missing"
    )


def _no_such(kind: str, object_id: str) -> JSONResponse:
    return _error(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing"
    )


def _create_customer(state: FakeStripeState, params: dict[str, Any], _: str) -> Response:
    customer = {
        "id": _new_id("cus"),
        "object": "customer",
        "name": params.get("name"),
        "email": params.get("email"),
        "metadata": params.get("metadata", {}),
        "created": int(time.time()),
        "livemode": False,
    }
    state.customers[customer["id"]] = customer
    return JSONResponse(customer)


def _retrieve_customer(state: FakeStripeState, _: dict[str, Any], object_id: str) -> Response:
    found = state.customers.get(object_id)
    return JSONResponse(found) if found else _no_such("customer", object_id)


def _create_checkout(state: FakeStripeState, params: dict[str, Any], _: str) -> Response:
    for name in ("success_url", "mode", "line_items"):
        if name not in params:
            return _missing(name)
    customer = params.get("customer")
    if customer and customer not in state.customers:
        return _no_such("customer", customer)
    session_id = _new_id("cs_test")
    checkout = {
        "id": session_id,
        "object": "checkout.session",
        "mode": params["mode"],
        "customer": customer,
        "client_reference_id": params.get("client_reference_id"),
        "line_items": params["line_items"],
        "metadata": params.get("metadata", {}),
        "subscription_data": params.get("subscription_data", {}),
        "success_url": params["success_url"],
        "cancel_url": params.get("cancel_url"),
        "status": "open",
        "payment_status": "unpaid",
        "subscription": None,
        "url": f"{state.base_url}/checkout/{session_id}",
    }
    state.checkout_sessions[session_id] = checkout
    return JSONResponse({key: value for key, value in checkout.items() if key != "line_items"})


def _create_portal(state: FakeStripeState, params: dict[str, Any], _: str) -> Response:
    customer = params.get("customer")
    if not customer:
        return _missing("customer")
    if customer not in state.customers:
        return _no_such("customer", customer)
    portal_id = _new_id("bps")
    portal = {
        "id": portal_id,
        "object": "billing_portal.session",
        "customer": customer,
        "return_url": params.get("return_url"),
        "url": f"{state.base_url}/portal/{portal_id}",
    }
    state.portal_sessions[portal_id] = portal
    return JSONResponse(portal)


def _retrieve_subscription(state: FakeStripeState, _: dict[str, Any], object_id: str) -> Response:
    found = state.subscriptions.get(object_id)
    return JSONResponse(found) if found else _no_such("subscription", object_id)


_Handler = Callable[[FakeStripeState, dict[str, Any], str], Response]


def _route(method: str, path: str) -> _Handler | None:
    parts = path.strip("/").split("/")[1:]  # without "v1"
    if method == "POST" and parts == ["customers"]:
        return _create_customer
    if method == "GET" and len(parts) == 2 and parts[0] == "customers":
        return _retrieve_customer
    if method == "POST" and parts == ["checkout", "sessions"]:
        return _create_checkout
    if method == "POST" and parts == ["billing_portal", "sessions"]:
        return _create_portal
    if method == "GET" and len(parts) == 2 and parts[0] == "subscriptions":
        return _retrieve_subscription
    return None


class FakeStripeServer:
    """The fake Stripe API served by uvicorn in a background thread on a free local port.

    ``with FakeStripeServer() as stripe:``; set ``ECHO_AI_BILLING__STRIPE_API_BASE`` (or
    ``BillingSettings.stripe_api_base``) to :attr:`base_url`.
    """

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.state = FakeStripeState()
        self.app = create_app(self.state)
        self.host = host
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[tuple[str, str, dict[str, Any]]]:
        return self.state.requests

    def reset(self) -> None:
        """Forget every object, request and failure."""
        for table in (
            self.state.customers,
            self.state.subscriptions,
            self.state.checkout_sessions,
            self.state.portal_sessions,
        ):
            table.clear()
        self.state.idempotent.clear()
        self.state.requests.clear()
        self.state.failure = None

    def fail_with(
        self, status: int, message: str, *, kind: str = "api_error", code: str | None = None
    ) -> None:
        """Answer every API request with this Stripe error until :meth:`reset`."""
        self.state.failure = Failure(status=status, type=kind, message=message, code=code)

    def subscription(
        self,
        customer: str,
        price: str,
        *,
        status: str = "active",
        metadata: dict[str, str] | None = None,
        subscription_id: str | None = None,
    ) -> dict[str, Any]:
        """Store a subscription of ``customer`` to ``price`` (as Stripe would after a
        payment) and return it."""
        sub_id = subscription_id or _new_id("sub")
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "metadata": metadata or {},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": _new_id("si"),
                        "object": "subscription_item",
                        "price": {"id": price, "object": "price"},
                        "quantity": 1,
                    }
                ],
            },
            "livemode": False,
        }
        self.state.subscriptions[sub_id] = subscription
        return subscription

    def set_status(self, subscription_id: str, status: str) -> dict[str, Any]:
        subscription = self.state.subscriptions[subscription_id]
        subscription["status"] = status
        return subscription

    def complete_checkout(self, session_id: str, *, status: str = "active") -> dict[str, Any]:
        """The customer paid: a subscription exists and the session is complete. Returns
        the session object of the ``checkout.session.completed`` event."""
        checkout = self.state.checkout_sessions[session_id]
        price = checkout["line_items"][0]["price"]
        metadata = dict(checkout.get("subscription_data", {}).get("metadata", {}))
        subscription = self.subscription(
            checkout["customer"], price, status=status, metadata=metadata
        )
        checkout.update(status="complete", payment_status="paid", subscription=subscription["id"])
        return {key: value for key, value in checkout.items() if key != "line_items"}

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FakeStripeServer is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        self.state.base_url = self.base_url
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="fake-stripe-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("FakeStripeServer failed to start")
            time.sleep(0.01)

    def _run(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            self._server.run(sockets=[sock])
        finally:
            sock.close()

    def stop(self) -> None:
        if self._thread is None or self._server is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
        self._thread = None
        self._server = None

    def __enter__(self) -> FakeStripeServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
