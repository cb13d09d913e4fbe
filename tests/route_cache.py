"""Routes built once per test process instead of once per test app.

FastAPI builds the request handler of every route of an included router (its dependency
tree, its request and response validators) lazily, on the first request an app answers,
for that app alone. A service builds one app per process, so it pays this once (about a
quarter of a second of CPU for our ~190 routes); the test suite builds a fresh app for
almost every test and paid it for each: about a quarter of the CPU time of a typical
API or page test.

:func:`install` memoises FastAPI's per-inclusion builder (``_EffectiveRouteContext.
from_api_route``) for the test process: a route included the same way again (the same
route object, an equal inclusion context, the same ``get_request_handler``) gets the
context FastAPI built the first time, which is what it would build again; nothing of the
app is in it (routes read the app and its state from the request). Every inclusion
field takes part in the key (except the app that provides ``dependency_overrides``,
which nothing here uses: :func:`install` refuses to share a route of an app that has
some), routes are held by the cache so that no new route can take a dead one's
``id``, and a patched ``get_request_handler`` (Sentry's FastAPI integration wraps it)
builds anew. If FastAPI's internals change, nothing is memoised and the suite is only
slower.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import fastapi.routing
from fastapi.datastructures import DefaultPlaceholder

_cache: dict[tuple[Any, ...], Any] = {}
_kept: dict[int, Any] = {}
"""What a key names by ``id``, held for the test process (no other object gets its id)."""


def _identity(value: Any) -> tuple[str, int]:
    _kept[id(value)] = value
    return ("id", id(value))


def _frozen(value: Any) -> Any:
    """A hashable stand-in for an inclusion field: containers and FastAPI's ``Default``
    placeholders by content, hashable values as themselves (``Depends`` compares by its
    fields), anything else by identity."""
    if isinstance(value, DefaultPlaceholder):
        return ("Default", _frozen(value.value))
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return tuple((_frozen(key), _frozen(item)) for key, item in value.items())
    try:
        hash(value)
    except TypeError:
        return _identity(value)
    return value


def install() -> bool:
    """Memoise route building in this process; False when FastAPI has no such builder."""
    context_class = getattr(fastapi.routing, "_EffectiveRouteContext", None)
    build = getattr(context_class, "from_api_route", None)
    if context_class is None or build is None or getattr(build, "memoised", False):
        return False
    original = build.__func__

    def from_api_route(cls: type, *, original_route: Any, include_context: Any) -> Any:
        overrides = include_context.dependency_overrides_provider
        if getattr(overrides, "dependency_overrides", None):
            return original(cls, original_route=original_route, include_context=include_context)
        fields = tuple(
            (field.name, _frozen(getattr(include_context, field.name)))
            for field in dataclasses.fields(include_context)
            if field.name != "dependency_overrides_provider"
        )
        key = (_identity(original_route), fields, fastapi.routing.get_request_handler)
        context = _cache.get(key)
        if context is None:
            context = original(cls, original_route=original_route, include_context=include_context)
            _cache[key] = context
        return context

    from_api_route.memoised = True  # type: ignore[attr-defined]
    context_class.from_api_route = classmethod(from_api_route)
    return True
